"""Loads the packaged edge module in CPython and calls its handler on CloudFront fixtures.

    python harness.py EDGE.zip EXTRACT_DIR RESULT.json FIXTURE.json...

Writes one JSON object to RESULT.json: the import time, and for each fixture the request the
handler returned, whether it is the very object it was given, and how long the call took; then the
module's stats(). Stdout is left to the module, which prints a metrics line per call.
"""

import json
import sys
import time
import zipfile


def main():
    zip_path, extract_dir, result_path, *fixtures = sys.argv[1:]
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(extract_dir)
    sys.path.insert(0, extract_dir)

    started = time.perf_counter()
    import tally_edge

    import_seconds = time.perf_counter() - started

    class Context:
        function_name = "us-east-1.tally-edge"
        aws_request_id = "test"

    calls = []
    for path in fixtures:
        with open(path, encoding="utf-8") as f:
            event = json.load(f)
        cf = event["Records"][0]["cf"]
        # A response event gets its response back; a request event its request.
        expected = cf["response"] if "response" in cf else cf["request"]
        started = time.perf_counter()
        returned = tally_edge.handler(event, Context())
        elapsed = time.perf_counter() - started
        calls.append(
            {
                "fixture": path,
                "same_object": returned is expected,
                "returned": returned,
                "seconds": elapsed,
            }
        )

    # Whatever it is given, the handler does not raise.
    for bad in [{}, {"Records": []}, None, {"Records": [{"cf": {"request": {"uri": 1}}}]}]:
        tally_edge.handler(bad, None)

    result = {
        "import_seconds": import_seconds,
        "calls": calls,
        "stats": tally_edge.stats(),
        "execution_names": {
            i: tally_edge.execution_name(i)
            for i in ["plain-id_1", "p8vQ==", "a" * 81, "has spaces, so derived"]
        },
    }
    with open(result_path, "w", encoding="utf-8") as out:
        json.dump(result, out)


main()
