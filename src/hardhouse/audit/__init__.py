"""`hardhouse audit`: read a ClickHouse configuration directory as the server would.

merge    ClickHouse's own merge: config.d/conf.d order, replace/remove, incl/include_from
         (files read with hardhouse.clickhouse.xmltree: bounded, with file and line)
"""
