"""PASS / FAIL / SKIP lines and their counts for the Python test programs (test/test_*.py), in
the format test/run_tests.sh counts: "VERDICT name[ detail]" (FAIL and SKIP: "name: detail")."""

results = {"PASS": 0, "FAIL": 0, "SKIP": 0}


def report(verdict, name, detail=""):
    results[verdict] += 1
    sep = " " if verdict == "PASS" else ": "
    detail = " | ".join(str(detail).splitlines())  # one verdict line, whatever the detail holds
    print(f"{verdict} {name}{sep + detail if detail else ''}", flush=True)


def check(name, ok, detail):
    report("PASS" if ok else "FAIL", name, detail)


def summary(program):
    """The closing count line (stderr) and the exit code: 1 when anything failed."""
    import sys
    print(f"[{results['PASS']} passed, {results['FAIL']} failed, {results['SKIP']} skipped in {program}]", file=sys.stderr)
    return 1 if results["FAIL"] else 0


def raised(name):
    """Inside an except block: the exception as one FAIL line (its last traceback line)."""
    import traceback
    report("FAIL", name, "raised " + traceback.format_exc().strip().splitlines()[-1])


def run_in_folders(tests, tmp):
    """Runs each test(folder) in a fresh subfolder of tmp named after it; one that raises is a FAIL."""
    import os
    for t in tests:
        sub = os.path.join(tmp, t.__name__)
        os.makedirs(sub)
        try:
            t(sub)
        except Exception:
            raised(t.__name__)
