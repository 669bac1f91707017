#!/usr/bin/env bash
# The Swift code of the README and the DocC articles is kept in Snippets/, one file a snippet, which
# `swift build` compiles with the package (SwiftPM builds every Snippets/*.swift as an executable), and, for
# test code, in test files whose first line says `// Quoted in:` (compiled and run by `swift test`). This script
#   1. checks that each snippet's visible code (without its `// snippet.hide` … `// snippet.show` parts and
#      its first comment lines) is quoted, exactly, as a ```swift block of the document its first line names
#      (`// Quoted in: README.md`), so the docs show code that compiles;
#   2. checks the other way round that every ```swift block of the README and of the DocC articles is a
#      snippet's code, so that no block is left out of the build;
#   3. runs every snippet to completion, except those marked `// Compiled, not run: …` (they name a server or
#      a file that is not there).
#
#   scripts/snippets-check.sh       (after `swift build`; scripts/test.sh calls it)
set -euo pipefail
cd "$(dirname "$0")/.."

python3 - <<'PY'
import pathlib, re, sys
failed = False
quoted = set()
tests = [t for t in pathlib.Path("Tests").rglob("*.swift") if t.read_text().startswith("// Quoted in:")]
for snippet in sorted(pathlib.Path("Snippets").glob("*.swift")) + sorted(tests):
    lines = snippet.read_text().splitlines()
    header = []
    while lines and lines[0].startswith("// ") and (lines[0].startswith("// Quoted in:") or lines[0].startswith("// Compiled, not run")):
        header.append(lines.pop(0))
    documents = [h.split(":", 1)[1].strip() for h in header if h.startswith("// Quoted in:")]
    if not documents:
        print(f"snippets-check: {snippet} names no document (// Quoted in: FILE)"); failed = True; continue
    visible, hidden = [], False
    for line in lines:
        if line.strip() == "// snippet.hide": hidden = True; continue
        if line.strip() == "// snippet.show": hidden = False; continue
        if not hidden: visible.append(line)
    code = "\n".join(visible).strip("\n")
    quoted.add(code)
    for document in documents:
        text = pathlib.Path(document).read_text()
        blocks = [b.strip("\n") for b in re.findall(r"```swift\n(.*?)```", text, re.S)]
        if code not in blocks:
            print(f"snippets-check: {document} does not quote {snippet} as written:\n{code}\n"); failed = True
for document in [pathlib.Path("README.md")] + sorted(pathlib.Path("Sources").rglob("*.docc/*.md")):
    for block in re.findall(r"```swift\n(.*?)```", document.read_text(), re.S):
        if block.strip("\n") not in quoted:
            print(f"snippets-check: {document} has a swift block that no snippet compiles:\n{block}"); failed = True
sys.exit(1 if failed else 0)
PY

for snippet in Snippets/*.swift; do
    name="$(basename "$snippet" .swift)"
    if grep -q '^// Compiled, not run' "$snippet"; then
        echo "snippets-check: $name compiled (not run: $(sed -n 's|^// Compiled, not run: ||p' "$snippet"))"
        continue
    fi
    (cd "$(mktemp -d)" && "$OLDPWD/.build/debug/$name" >/dev/null) || { echo "snippets-check: $name failed" >&2; exit 1; }
    echo "snippets-check: $name ran to completion"
done
