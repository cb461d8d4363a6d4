#!/bin/sh
# apsql mcp against a client nobody here wrote: the MCP Inspector's CLI
# (npm @modelcontextprotocol/inspector), over stdio, on the demo library.
# It checks tools/list (every tool, portable schemas: --strict), a query,
# a find with a bad filter, a refused run, an unknown tool, resources and
# prompts, and --http with and without the bearer token. make test runs it after the build; the Inspector is installed
# once under .cache/mcp-inspector (gitignored).
#
# Usage: scripts/mcp-inspector-test.sh [path/to/apsql]
set -eu
cd "$(dirname "$0")/.."
BIN=$(cd "$(dirname "${1:-bin/apsql}")" && pwd)/$(basename "${1:-bin/apsql}")
VERSION=2.12.0
DIR=.cache/mcp-inspector
INSPECTOR=$DIR/node_modules/.bin/mcp-inspector
if ! command -v node >/dev/null 2>&1; then
	echo "mcp-inspector-test: node is missing (Node.js 20 or later: apt-get install -y nodejs npm)" >&2
	exit 1
fi
if [ ! -x "$INSPECTOR" ] || ! grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/@modelcontextprotocol/inspector/package.json" 2>/dev/null; then
	mkdir -p "$DIR"
	npm install --silent --no-audit --no-fund --prefix "$DIR" "@modelcontextprotocol/inspector@$VERSION" >/dev/null
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat >"$TMP/mcp.json" <<EOF
{"mcpServers": {"apsql": {"command": "$BIN", "args": ["--demo=200", "mcp"]}}}
EOF
export MCP_INSPECTOR_SECRET_STORE=memory
fails=0
# inspect NAME WANT ARGS...: runs the CLI, wants it to succeed and its
# output to hold WANT. refused NAME WANT ARGS...: wants it to fail (a tool
# error, an unknown tool) with WANT in what it printed.
inspect() {
	name=$1 want=$2
	shift 2
	if ! "$INSPECTOR" --cli --config "$TMP/mcp.json" --server apsql "$@" >"$TMP/out" 2>"$TMP/err"; then
		echo "FAIL $name: the inspector failed:" >&2
		grep -v '^\[mcp-inspector\]' "$TMP/err" | head -20 >&2
		fails=$((fails + 1))
	elif ! grep -q -- "$want" "$TMP/out"; then
		echo "FAIL $name: no '$want' in:" >&2
		head -c 2000 "$TMP/out" >&2
		fails=$((fails + 1))
	fi
}
refused() {
	name=$1 want=$2
	shift 2
	if "$INSPECTOR" --cli --config "$TMP/mcp.json" --server apsql "$@" >"$TMP/out" 2>"$TMP/err"; then
		echo "FAIL $name: wanted a refusal, got:" >&2
		head -c 2000 "$TMP/out" >&2
		fails=$((fails + 1))
	elif ! cat "$TMP/out" "$TMP/err" | grep -q -- "$want"; then
		echo "FAIL $name: no '$want' in:" >&2
		cat "$TMP/out" "$TMP/err" | grep -v '^\[mcp-inspector\]' | head -c 2000 >&2
		fails=$((fails + 1))
	fi
}
inspect "tools/list --strict" '"name": "query"' --method tools/list --strict
for tool in query find schema explain run sync thumbnail usage; do
	grep -q "\"name\": \"$tool\"" "$TMP/out" || { echo "FAIL tools/list lacks $tool" >&2; fails=$((fails + 1)); }
done
grep -q '"destructiveHint": true' "$TMP/out" || { echo "FAIL tools/list: no destructive tool" >&2; fails=$((fails + 1)); }
inspect "query" '"truncated": false' --method tools/call --tool-name query --tool-arg 'sql=SELECT count(*) AS n, sum(size) AS bytes FROM photos'
inspect "query, a million rows" 'truncated, 1,000,000 rows total' --method tools/call --tool-name query --tool-arg 'sql=SELECT * FROM range(1000000)'
refused "query refused" 'only a query' --method tools/call --tool-name query --tool-arg 'sql=DELETE FROM nodes'
inspect "find" '"sql":' --method tools/call --tool-name find --tool-arg 'filter=type:(VIDEOS)' --tool-arg max_rows=2
refused "find, bad filter" '\^' --method tools/call --tool-name find --tool-arg 'filter=type:(VIDEOS) AND AND'
inspect "explain" '"code":' --method tools/call --tool-name explain --tool-arg 'statement=TRASH WHERE size < 30000'
refused "run without a code" 'needs the code' --method tools/call --tool-name run --tool-arg 'statement=TRASH WHERE size < 30000'
refused "run, unknown code" 'unknown, used already' --method tools/call --tool-name run --tool-arg 'statement=TRASH WHERE size < 30000' --tool-arg code=0123456789abcdef
refused "unknown tool" 'not found' --method tools/call --tool-name drop_everything
inspect "resources/list" 'apsql://guide' --method resources/list
inspect "resources/read" 'explain' --method resources/read --uri apsql://guide
inspect "prompts/list" 'clean-up-duplicates' --method prompts/list
# Streamable HTTP behind the token: refused without it, served with it.
"$BIN" --demo=200 mcp --http 127.0.0.1:0 2>"$TMP/http.err" &
pid=$!
i=0
while ! grep -q '^Authorization: Bearer' "$TMP/http.err" && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
url=$(sed -n 's/^apsql mcp: //p' "$TMP/http.err")
token=$(sed -n 's/^Authorization: Bearer //p' "$TMP/http.err")
if [ -z "$url" ] || [ -z "$token" ]; then
	echo "FAIL --http: no URL and token on stderr:" >&2
	cat "$TMP/http.err" >&2
	fails=$((fails + 1))
else
	if "$INSPECTOR" --cli "$url" --transport http --method tools/list >"$TMP/out" 2>&1; then
		echo "FAIL --http: served without the token" >&2
		fails=$((fails + 1))
	fi
	if ! "$INSPECTOR" --cli "$url" --transport http --header "Authorization: Bearer $token" \
		--method tools/call --tool-name query --tool-arg 'sql=SELECT count(*) AS n FROM nodes' >"$TMP/out" 2>"$TMP/err" ||
		! grep -q '"total": 1' "$TMP/out"; then
		echo "FAIL --http: query with the token:" >&2
		cat "$TMP/out" "$TMP/err" | grep -v '^\[mcp-inspector\]' | head -20 >&2
		fails=$((fails + 1))
	fi
fi
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
if [ "$fails" -gt 0 ]; then
	echo "mcp-inspector-test: $fails checks failed" >&2
	exit 1
fi
echo "mcp-inspector-test: ok (Inspector $VERSION)"
