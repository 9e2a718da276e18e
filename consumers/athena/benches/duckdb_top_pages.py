"""DuckDB side of the top_pages bench (benches/top_pages.rs runs it).

    python duckdb_top_pages.py EVENTS_DIR SQL_FILE RUNS

Runs the named query's SQL text unchanged over a `page_views` view on the archive's gzipped
NDJSON objects (`EVENTS_DIR/year=…/month=…/day=…/hour=…/*.gz`), read with Hive partitioning.
The one dialect adjustment is the view itself: `read_json` with the columns top_pages reads
declared (`detail` as a STRUCT), where DataFusion gets the Glue table's schema. Each run opens a
new connection (nothing cached between runs) and times view creation plus the query. Prints JSON:
{"version", "seconds": [...], "median_s", "rows": [{site, page, views, visitors}, ...]}.
"""

import json
import statistics
import sys
import time

import duckdb

DETAIL = "STRUCT(event_id VARCHAR, site VARCHAR, path VARCHAR, is_bot BOOLEAN, visitor_hash VARCHAR)"


def main() -> None:
    events, sql_file, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(sql_file, encoding="utf-8") as f:
        sql = f.read()
    seconds = []
    rows = []
    for _ in range(runs):
        started = time.perf_counter()
        con = duckdb.connect()
        con.execute(
            f"""CREATE VIEW page_views AS SELECT * FROM read_json(
                '{events}/*/*/*/*/*.gz',
                format = 'newline_delimited',
                compression = 'gzip',
                hive_partitioning = true,
                columns = {{'id': 'VARCHAR', 'detail': '{DETAIL}'}}
            )"""
        )
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r)) for r in cursor.fetchall()]
        con.close()
        seconds.append(time.perf_counter() - started)
    json.dump(
        {
            "version": duckdb.__version__,
            "seconds": seconds,
            "median_s": statistics.median(seconds),
            "rows": rows,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
