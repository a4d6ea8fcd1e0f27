"""Development tooling outside the wheel: local images, the sandbox driver."""
