"""Field metadata: every warehouse table and field declared once.

The declarations in :mod:`evenhand.metadata.tables` generate the DuckDB DDL, the
validation schemas (pandera) and the data dictionary (docs/data-dictionary.md).
"""

from evenhand.metadata.schema import Field, Table
from evenhand.metadata.tables import TABLES, table

__all__ = ["TABLES", "Field", "Table", "table"]
