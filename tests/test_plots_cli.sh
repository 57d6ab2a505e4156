#!/bin/sh
# test_plots_cli.sh - dxt-analyze's pictures end to end: --plots DIR writes per op
# a heatmap, a heatmap per finding and a timeline (PNG, size checked);
# --plot-window A:B, --log-color, --show (ANSI colors, the finding named); a
# healthy trace gets no finding maps; with no gnuplot in PATH the report still
# comes out, exit 4, one clear message. Skipped while dxt-analyze has no --plots.
# Needs $DXT_BUILD/bin/dxt-synth and dxt-analyze. Owner: the plots engineer.
set -u
. tests/lib.sh
test_init test_plots

quiet() { "$@" >/dev/null; } # the report is not what is tested here

# png_at_least FILE W H: a PNG of at least W x H pixels (IHDR)
png_at_least() {
    $PY - "$@" <<'PYEOF'
import struct, sys
path, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
head = open(path, "rb").read(24)
ok = head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
pw, ph = struct.unpack(">II", head[16:24]) if ok else (0, 0)
sys.exit(0 if ok and pw >= w and ph >= h else 1)
PYEOF
}

# cell_rgb FILE N I J: "r g b" at cell (row I, column J) of an N-rank heatmap
# (layout of dxt_heatmap_layout_for: plot area at 100,76, a 1-pixel border,
# cells of min(60, 720/N) pixels; sampled a quarter in, clear of the value text)
cell_rgb() {
    $PY - "$@" <<'PYEOF'
import struct, sys, zlib
path, n, i, j = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
d = open(path, "rb").read()
pos, idat = 8, b""
while pos < len(d):
    ln, typ = struct.unpack(">I4s", d[pos:pos + 8])
    body = d[pos + 8:pos + 8 + ln]
    if typ == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif typ == b"IDAT":
        idat += body
    pos += 12 + ln
bpp = {2: 3, 6: 4}[ctype]
cell = min(60, 720 // n)
x, y = 101 + j * cell + cell // 4, 77 + i * cell + cell // 4
raw, stride, prev, p = zlib.decompress(idat), w * bpp, bytearray(w * bpp), 0
for row in range(y + 1):
    f, line = raw[p], bytearray(raw[p + 1:p + 1 + stride])
    p += 1 + stride
    for k in range(stride):
        a = line[k - bpp] if k >= bpp else 0
        b, c = prev[k], (prev[k - bpp] if k >= bpp else 0)
        if f == 1: line[k] = (line[k] + a) & 255
        elif f == 2: line[k] = (line[k] + b) & 255
        elif f == 3: line[k] = (line[k] + (a + b) // 2) & 255
        elif f == 4:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            line[k] = (line[k] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
print(*prev[x * bpp:x * bpp + 3])
PYEOF
}

# the default palette (heat): slow cells (2x typical or more) orange to dark
# red, typical ones pale yellow
is_dark() { set -- $(cell_rgb "$@"); [ "$1" -gt 120 ] && [ "$2" -lt 150 ] && [ "$3" -lt 90 ]; }
is_pale() { set -- $(cell_rgb "$@"); [ "$1" -gt 230 ] && [ "$2" -gt 200 ]; }
# --palette deepxtrace: green -> yellow -> red
is_green() { set -- $(cell_rgb "$@"); [ "$2" -gt 120 ] && [ "$2" -gt $(($1 + 50)) ]; }

for tool in "$SYNTH" "$ANALYZE"; do
    [ -x "$tool" ] || { echo "FAIL missing $tool (build first)"; exit 1; }
done
if ! "$ANALYZE" --help 2>&1 | grep -q -- --plots; then
    echo "skip: dxt-analyze has no --plots yet"
    exit 0
fi

"$SYNTH" -q -o "$TMP/src" -n 16 -t 400 --noise calm --fault slow_source:rank=5,onset=100,x=3 \
    >"$TMP/synth.log" 2>&1 || { cat "$TMP/synth.log"; exit 1; }
"$SYNTH" -q -o "$TMP/healthy" -n 16 -t 400 --noise calm >"$TMP/synth2.log" 2>&1 ||
    { cat "$TMP/synth2.log"; exit 1; }

# 1. --plots: heatmaps, finding maps, timelines
check "--plots exit 0" quiet "$ANALYZE" "$TMP/src" --plots "$TMP/p" -q
for f in dispatch-heatmap combine-heatmap dispatch-timeline combine-timeline \
         dispatch-finding1-slow_source; do
    check "$f.png" png_at_least "$TMP/p/$f.png" 16 16
done

# the flagged column is dark, a healthy cell of the same (cross-node) block pale
check "slow source column dark" is_dark "$TMP/p/dispatch-finding1-slow_source.png" 16 12 5
check "healthy cell of its block pale" is_pale "$TMP/p/dispatch-finding1-slow_source.png" 16 12 6
check "--palette deepxtrace" quiet "$ANALYZE" "$TMP/src" --plots "$TMP/g" --palette deepxtrace -q
check "deepxtrace: healthy green" is_green "$TMP/g/dispatch-heatmap.png" 16 12 6
check "--abs-color" quiet "$ANALYZE" "$TMP/src" --plots "$TMP/a" --abs-color -q
check "--abs-color: slow column dark" is_dark "$TMP/a/dispatch-heatmap.png" 16 12 5
check "bad --palette: exit 2" sh -c '"$1" "$2" --palette nope >/dev/null 2>&1; [ $? = 2 ]' \
    sh "$ANALYZE" "$TMP/src"

# 2. --plot-window and --log-color
check "--plot-window 100:199" quiet "$ANALYZE" "$TMP/src" --plots "$TMP/w" --plot-window 100:199 \
    --log-color -q
check "window heatmap" png_at_least "$TMP/w/dispatch-heatmap-steps-100-199.png" 16 16
check "bad --plot-window refused" sh -c '! "$1" "$2" --plot-window 9:1 >/dev/null 2>&1' \
    sh "$ANALYZE" "$TMP/src"

"$ANALYZE" "$TMP/src" --plots "$TMP/o" --plot-window 5000:6000 -q >/dev/null 2>"$TMP/o.err"
check "--plot-window outside the trace: exit 4" [ $? = 4 ]
check "--plot-window outside the trace: said" grep -q "holds no step" "$TMP/o.err"

# 3. --show: the finding named; colors on --color=always, none into a pipe or
# with NO_COLOR (glyphs carry the levels), at most LINES lines
ESC=$(printf '\033')
"$ANALYZE" "$TMP/src" --show --color=always >"$TMP/show.out" 2>"$TMP/show.err"
check "--show exit 0" [ $? = 0 ]
check "--show --color=always: colors" grep -q "$ESC\[48;" "$TMP/show.out"
check "--show names the finding" grep -q "slow_source rank 5" "$TMP/show.out"
"$ANALYZE" "$TMP/src" --show -q >"$TMP/pipe.out" 2>&1
check "--show into a pipe: no escapes" sh -c '! grep -q "$1" "$2"' sh "$ESC" "$TMP/pipe.out"
check "--show into a pipe: glyph levels" grep -q "levels:" "$TMP/pipe.out"
NO_COLOR=1 "$ANALYZE" "$TMP/src" --show --color=auto -q >"$TMP/nocolor.out" 2>&1
check "NO_COLOR: no escapes" sh -c '! grep -q "$1" "$2"' sh "$ESC" "$TMP/nocolor.out"
check "bad --color: exit 2" sh -c '"$1" "$2" --color=sometimes >/dev/null 2>&1; [ $? = 2 ]' \
    sh "$ANALYZE" "$TMP/src"

# 4. healthy: a timeline, no finding maps
check "healthy --plots" quiet "$ANALYZE" "$TMP/healthy" --plots "$TMP/h" -q
check "healthy timeline" png_at_least "$TMP/h/dispatch-timeline.png" 100 100
check "healthy: no finding maps" sh -c '! ls "$1"/*finding* >/dev/null 2>&1' sh "$TMP/h"

# 5. no gnuplot: the report still comes, exit 4 (pictures failed), one message
mkdir "$TMP/empty-path"
PATH="$TMP/empty-path" "$ANALYZE" "$TMP/src" --plots "$TMP/n" --format json \
    >"$TMP/nognuplot.json" 2>"$TMP/nognuplot.err"
check "no gnuplot: exit 4" [ $? = 4 ]
check "no gnuplot: report" $PY -c \
    "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r['findings'] else 1)" \
    "$TMP/nognuplot.json"
check "no gnuplot: one message" [ "$(grep -c 'gnuplot not found: install gnuplot-nox' \
    "$TMP/nognuplot.err")" = 1 ]

[ "$fails" = 0 ] && echo "all passed"
[ "$fails" = 0 ]
