"""The hardening spec: model, field rules, cross-field checks, loading, and the reference."""

from hardhouse.spec.errors import Problem, SpecError
from hardhouse.spec.load import load_spec, load_spec_file
from hardhouse.spec.model import HardeningSpec, User

__all__ = ["HardeningSpec", "Problem", "SpecError", "User", "load_spec", "load_spec_file"]
