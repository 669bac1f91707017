#!/usr/bin/env bash
# Builds and runs the Swift code of the README and of the DocC articles as a reader would paste it: into new
# packages beside a checkout named swift-user-domain, with nothing added to the blocks.
#
#   1. The README's Package.swift block is the manifest of a new package, MyApp, as written (its traits
#      included). The README's first Swift program is MyApp's main.swift and the README's test blocks are its
#      tests: it builds, MyApp runs to completion and `swift test` passes; and, as its traits say (SQLite), it
#      links neither libpq nor rabbitmq-c and resolves none of the HTTP service's packages.
#   2. Every Swift block of the README and of the DocC articles becomes a target of a second package (the same
#      manifest with the package's default traits): a program block is a main.swift of its own, a block that
#      imports Testing a test target of its own, each depending on the products of the modules it imports.
#      Everything builds; every program runs to completion, and `swift test` passes.
#
# An HTML comment on the line before a block changes how it runs (never what it is):
#   <!-- docs-check: not run, REASON -->      compiled only (it names a server or a file that is not there)
#   <!-- docs-check: runs until SIGTERM -->   a service: it must still be up after 3 s, and exit 0 on SIGTERM
#
#   scripts/docs-code-check.sh        (scripts/test.sh calls it; DOCS_CHECK_DIR keeps the packages between runs)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
work="${DOCS_CHECK_DIR:-$repo/.build/docs-code-check}"
mkdir -p "$work"
ln -sfn "$repo" "$work/swift-user-domain"

python3 - "$repo" "$work" <<'PY'
import json, pathlib, re, shutil, sys
repo, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
ours = {"UserDomain", "UserPorts", "UserPortsTesting", "UserInMemory", "UserSQLite", "UserPostgres", "UserRedis", "UserHTTP",
        "UserRabbitMQ", "UserAppCore", "UserApp"}
theirs = {"Logging": "swift-log", "ServiceLifecycle": "swift-service-lifecycle",
          "UnixSignals": "swift-service-lifecycle", "ServiceLifecycleTestKit": "swift-service-lifecycle"}
system = {"Foundation", "FoundationNetworking", "Testing", "Dispatch", "Glibc"}

blocks = []  # (document, line, marker, code)
for document in [repo / "README.md"] + sorted(repo.glob("Sources/**/*.docc/*.md")):
    text = document.read_text()
    for match in re.finditer(r"```swift\n(.*?)```", text, re.S):
        before = text[:match.start()].rstrip("\n").splitlines()
        marker = before[-1].strip() if before and before[-1].strip().startswith("<!-- docs-check:") else ""
        line = text[:match.start()].count("\n") + 1
        blocks.append((str(document.relative_to(repo)), line, marker, match.group(1)))

manifests = [b for b in blocks if b[3].startswith("// swift-tools-version")]
if len(manifests) != 1 or manifests[0][0] != "README.md":
    sys.exit("docs-code-check: the README must hold exactly one Package.swift block (// swift-tools-version …)")
manifest = manifests[0][3]
code = [b for b in blocks if b is not manifests[0]]

def is_test(block): return re.search(r"^import Testing$", block[3], re.M) is not None
def products(block):
    result = []
    for module in re.findall(r"^(?:@testable )?import (\w+)", block[3], re.M):
        if module in ours: result.append(f'.product(name: "{module}", package: "swift-user-domain")')
        elif module in theirs: result.append(f'.product(name: "{module}", package: "{theirs[module]}")')
        elif module not in system:
            sys.exit(f"docs-code-check: {block[0]}:{block[1]} imports {module}, which no package of the manifest has")
    return result

def fresh(path):
    for sub in ["Sources", "Tests"]:
        shutil.rmtree(path / sub, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)

# 1. MyApp, as the README shows it.
readme_programs = [b for b in code if b[0] == "README.md" and not is_test(b)]
readme_tests = [b for b in code if b[0] == "README.md" and is_test(b)]
app = work / "MyApp"
fresh(app)
(app / "Package.swift").write_text(manifest)
names = re.findall(r'\.(?:executableTarget|target)\(\s*name: "(\w+)"', manifest)
tests = re.findall(r'\.testTarget\(\s*name: "(\w+)"', manifest)
if not names or not tests:
    sys.exit("docs-code-check: the README's Package.swift needs an app target and a test target")
(app / "Sources" / names[0]).mkdir(parents=True)
(app / "Sources" / names[0] / "main.swift").write_text(readme_programs[0][3])
(app / "Tests" / tests[0]).mkdir(parents=True)
for i, block in enumerate(readme_tests):
    (app / "Tests" / tests[0] / f"Documented{i}.swift").write_text(block[3])

# 2. Every block, a target each, over the default traits.
docs = work / "Docs"
fresh(docs)
runs = []
targets = []
for i, block in enumerate(code):
    name = f"Doc{i:02d}"
    if is_test(block):
        name += "Tests"
        (docs / "Tests" / name).mkdir(parents=True)
        (docs / "Tests" / name / "Documented.swift").write_text(block[3])
        targets.append(f'.testTarget(name: "{name}", dependencies: [{", ".join(products(block))}])')
    else:
        (docs / "Sources" / name).mkdir(parents=True)
        (docs / "Sources" / name / "main.swift").write_text(block[3])
        targets.append(f'.executableTarget(name: "{name}", dependencies: [{", ".join(products(block))}])')
        mode = "skip" if "not run" in block[2] else "service" if "SIGTERM" in block[2] else "run"
        runs.append({"name": name, "where": f"{block[0]}:{block[1]}", "mode": mode})
    print(f"docs-code-check: {name} is {block[0]}:{block[1]}")
default_traits = re.sub(r',\s*traits: \[[^\]]*\]', '', manifest)
default_traits = re.sub(r'name: "[^"]+"', 'name: "Docs"', default_traits, count=1)
default_traits = re.sub(r'targets: \[.*\]\s*\)\s*$', 'targets: []\n)\n', default_traits, flags=re.S)
(docs / "Package.swift").write_text(default_traits + "\npackage.targets += [\n    " + ",\n    ".join(targets) + "\n]\n")
(work / "runs.json").write_text(json.dumps({"app": names[0], "runs": runs}))
PY

run() {  # run NAME BINARY MODE WHERE
    local name="$1" binary="$2" mode="$3" where="$4" dir
    dir="$(mktemp -d)"
    case "$mode" in
    skip) echo "docs-code-check: $name ($where) compiled, not run" ;;
    run)
        (cd "$dir" && timeout 60 "$binary" >/dev/null) || { echo "docs-code-check: $name ($where) failed" >&2; exit 1; }
        echo "docs-code-check: $name ($where) ran to completion" ;;
    service)
        (cd "$dir" && exec "$binary" >/dev/null 2>&1) &
        local pid=$!
        sleep 3
        kill -0 "$pid" 2>/dev/null || { echo "docs-code-check: $name ($where) did not stay up" >&2; exit 1; }
        kill -TERM "$pid"
        local status=0
        timeout 15 tail --pid="$pid" -f /dev/null || { echo "docs-code-check: $name ($where) ignored SIGTERM" >&2; kill -KILL "$pid"; exit 1; }
        wait "$pid" || status=$?
        [ "$status" = 0 ] || { echo "docs-code-check: $name ($where) exited $status on SIGTERM" >&2; exit 1; }
        echo "docs-code-check: $name ($where) served, and exited 0 on SIGTERM" ;;
    esac
    rm -rf "$dir"
}

echo "docs-code-check: MyApp, the README's Package.swift as written"
(cd "$work/MyApp" && swift build --build-tests && swift test --skip-build)
app="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["app"])' "$work/runs.json")"
run "$app" "$work/MyApp/.build/debug/$app" run "README.md, its first program"
# The README's promise: an app pays only for the adapters its traits name. MyApp names SQLite alone.
if ldd "$work/MyApp/.build/debug/$app" | grep -qE 'lib(pq|rabbitmq)\.so'; then
    echo "docs-code-check: MyApp (traits: SQLite) links libpq or rabbitmq-c" >&2; exit 1
fi
if grep -qiE '"identity" *: *"(hummingbird|swift-nio|swift-configuration)"' "$work/MyApp/Package.resolved"; then
    echo "docs-code-check: MyApp (traits: SQLite) resolved the HTTP service's packages" >&2; exit 1
fi
echo "docs-code-check: MyApp links no C library but SQLite's and resolved $(grep -c '"identity"' "$work/MyApp/Package.resolved") packages"

echo "docs-code-check: every block of the README and the DocC articles"
(cd "$work/Docs" && swift build --build-tests && swift test --skip-build)
python3 -c 'import json,sys; [print(r["name"], r["mode"], r["where"]) for r in json.load(open(sys.argv[1]))["runs"]]' \
    "$work/runs.json" | while read -r name mode where; do
    run "$name" "$work/Docs/.build/debug/$name" "$mode" "$where"
done
