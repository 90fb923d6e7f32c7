# bash_loop.sh -- bash itself: loops that build long strings, indexed and associative arrays,
# substitutions and command substitution; run as `bash bash_loop.sh`.
s=""
for ((i = 0; i < 20000; i++)); do s+="$((i * 7 % 1000)),"; done
echo "string ${#s} ${s:0:40} ${s: -20}"
declare -A h
for ((i = 0; i < 40000; i++)); do k="k$((i % 3001))"; h[$k]=$(( ${h[$k]:-0} + i )); done
echo "assoc ${#h[@]} ${h[k0]} ${h[k3000]}"
a=()
for ((i = 0; i < 50000; i++)); do a+=("item-$((i * 31 % 50000))"); done
echo "array ${#a[@]} ${a[12345]} ${a[-1]}"
p=${s:0:8000}; t=${p//,/;}; t=${t//0/zero}
echo "subst ${#t} ${t:0:30}"
u=""
for w in ${p//,/ }; do [ "$w" -gt 990 ] && u+="$w "; done
echo "words ${#u}"
n=0
for ((i = 0; i < 100; i++)); do x=$(printf '%05d' "$i"); n=$((n + ${#x})); done
echo "subshells $n"
printf '%s\n' "${a[@]}" | sort -u | wc -l
