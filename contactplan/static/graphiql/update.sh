#!/bin/sh
# Refresh vendor/ from the exact versions in package-lock.json (see UPDATING.md).
# Needs node + npm and the npm registry; nothing else. Run from any directory.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund)
nm="$work/node_modules"

rm -rf "$here/vendor"
mkdir -p "$here/vendor/licenses"
cp "$nm/react/umd/react.production.min.js" "$here/vendor/"
cp "$nm/react-dom/umd/react-dom.production.min.js" "$here/vendor/"
cp "$nm/graphiql/graphiql.min.js" "$nm/graphiql/graphiql.min.css" "$here/vendor/"
for pkg in react react-dom graphiql; do
  cp "$nm/$pkg/LICENSE" "$here/vendor/licenses/$pkg.LICENSE"
done

# graphiql.min.js bundles many packages (webpack keeps their node_modules paths):
# ship each one's license text. A bundled package missing from node_modules
# fails the update: pin it in package.json devDependencies.
python3 - "$nm" "$here/vendor" <<'PY'
import json, pathlib, re, sys

nm, vendor = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
bundle = (vendor / "graphiql.min.js").read_text(encoding="utf-8")
names = sorted(set(re.findall(r"node_modules/((?:@[\w.-]+/)?[\w.-]+)/", bundle)))
missing, parts = [], []
for name in names:
    pkg_dir = nm / name
    if not (pkg_dir / "package.json").exists():
        missing.append(name)
        continue
    meta = json.loads((pkg_dir / "package.json").read_text(encoding="utf-8"))
    files = sorted(p for p in pkg_dir.iterdir() if re.match(r"(?i)licen[cs]e|copying", p.name))
    text = files[0].read_text(encoding="utf-8") if files else (
        f"No license file in the package; package.json declares {meta.get('license')!r}.\n"
    )
    parts.append(f"{'=' * 72}\n{name} {meta['version']} ({meta.get('license')})\n{'=' * 72}\n{text}")
if missing:
    sys.exit("bundled in graphiql.min.js but not installed: " + ", ".join(missing))
header = (
    "Licenses of the packages bundled inside graphiql.min.js, as installed from\n"
    "package-lock.json (the bundle was built by GraphiQL's maintainers; versions\n"
    "may differ slightly from the ones they bundled).\n\n"
)
(vendor / "licenses" / "graphiql-bundled.txt").write_text(header + "\n".join(parts), encoding="utf-8")
print(f"{len(names)} bundled packages, licenses written")
PY
ls -l "$here/vendor"
