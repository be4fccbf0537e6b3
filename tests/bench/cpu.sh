# tests/bench/cpu.sh - sourced by the benchmarks that count PostgreSQL's CPU (copy.sh, ab.sh).
# Needs PM (the postmaster's pid) and HZ (getconf CLK_TCK) set by the caller.

# CPU seconds of the server so far: postmaster (own + reaped children) + live children.
pg_cpu() {
    local t=0 p f
    # fields after the ")" of the command name: 12 utime 13 stime 14 cutime 15 cstime (1-based)
    f=$(sed 's/^.*) //' "/proc/$PM/stat")
    t=$(awk '{print $12 + $13 + $14 + $15}' <<<"$f")
    for p in $(ps -o pid= --ppid "$PM"); do
        f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        t=$((t + $(awk '{print $12 + $13}' <<<"$f")))
    done
    awk -v t="$t" -v hz="$HZ" 'BEGIN{printf "%.2f", t/hz}'
}
sub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a-b}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (b > 0) printf "%.2f", a/b; else print "n/a"}'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{if (NR % 2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }
