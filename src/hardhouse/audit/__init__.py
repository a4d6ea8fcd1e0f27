"""`hardhouse audit`: read a ClickHouse configuration directory as the server would.

xmltree  bounded, hostile-safe XML reading into nodes that remember file and line
merge    ClickHouse's own merge: config.d/conf.d order, replace/remove, incl/include_from
"""
