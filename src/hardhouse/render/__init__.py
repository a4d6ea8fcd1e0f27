"""Rendering: a validated spec (and the secrets it names) becomes ClickHouse files."""

from hardhouse.render.build import FILE_PREFIX, SQL_FILE, RenderedFile, render
from hardhouse.render.sql import sql_statements
from hardhouse.render.write import write_files

__all__ = ["FILE_PREFIX", "SQL_FILE", "RenderedFile", "render", "sql_statements", "write_files"]
