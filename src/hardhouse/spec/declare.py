"""What every section of the spec is declared with: the strict model base, `described()` (a
Field whose description and reason feed the README reference, hardhouse.spec.reference), and
the list-item types validated one by one, so that an error names its index
(users[0].networks[1])."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from hardhouse.spec.fields import (
    check_address,
    check_column_type,
    check_database,
    check_network,
    check_user_reference,
)


def described(default: Any = ..., *, description: str, why: str = "", **kwargs: Any) -> Any:
    """A Field whose description and reason feed the README reference."""
    extra = {"why": why} if why else {}
    return Field(default, description=description, json_schema_extra=extra, **kwargs)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


Address = Annotated[str, AfterValidator(check_address)]
Network = Annotated[str, AfterValidator(check_network)]
DatabaseName = Annotated[str, AfterValidator(check_database)]
ColumnType = Annotated[str, AfterValidator(check_column_type)]
UserReference = Annotated[str, AfterValidator(check_user_reference)]
