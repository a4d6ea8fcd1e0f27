"""The hardening spec: one module per section (its models, cross-checks and meaning together),
the root model, rules for single strings, loading, and the generated reference."""

from hardhouse.spec.errors import Problem, SpecError
from hardhouse.spec.load import load_spec, load_spec_file
from hardhouse.spec.model import HardeningSpec
from hardhouse.spec.users import User

__all__ = ["HardeningSpec", "Problem", "SpecError", "User", "load_spec", "load_spec_file"]
