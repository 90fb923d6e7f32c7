# describe_rc.sh -- sourced by compare.sh and programs/check.sh: an exit status in words.
# Uses $tmo (the caller's timeout in seconds) for status 124.
describe_rc() {
    case "$1" in
        124) echo "124 (timed out after ${tmo}s)" ;;
        125|126|127) echo "$1 (could not run the command)" ;;
        1[2-9][0-9]) echo "$1 (killed by signal $(( $1 - 128 )): $(kill -l $(( $1 - 128 )) 2>/dev/null))" ;;
        *) echo "$1" ;;
    esac
}
