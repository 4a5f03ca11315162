"""SQL schema migrations, applied in order by tektii_platform.db (NNNN_name.sql)."""
