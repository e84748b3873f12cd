#!/bin/bash
# Drives nudgectl's bash completion the way bash does when Tab is pressed: sets
# COMP_WORDS, COMP_CWORD, COMP_LINE and COMP_POINT, calls the function that
# `complete -p nudgectl` names, and compares COMPREPLY with what a user should see.
# The first words offered are checked against the commands `nudgectl --help` lists.
# Usage: completion_test.sh COMPLETION_FILE NUDGECTL
set -u
completion=$1
nudgectl=$2
help_commands=$("$nudgectl" --help | sed -n '/^commands:/,/^[a-z]/s/^  \([a-z][a-z]*\).*/\1/p' | sort -u | tr '\n' ' ' | sed 's/ $//')
source /usr/share/bash-completion/bash_completion || { echo "bash-completion is not installed"; exit 1; }
source "$completion"

spec=$(complete -p nudgectl) || { echo "no completion registered for nudgectl"; exit 1; }
func=$(sed -n 's/.*-F \([^ ]*\) .*/\1/p' <<<"$spec")

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
mkdir policies
touch shop.yaml other.yml nudge.yaml.example orders.jsonl feed.json notes.txt audit.jsonl audit.jsonl.1 audit.jsonl-20261126 audit.jsonl-20261125.gz policies/a.yaml

failures=0
# expect "COMMAND LINE UP TO THE CURSOR" "expected sorted words, space-separated"
expect() {
    local line=$1 want=$2
    COMP_LINE=$line
    COMP_POINT=${#line}
    read -ra COMP_WORDS <<<"$line"
    [[ $line == *' ' ]] && COMP_WORDS+=('')
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    "$func" nudgectl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    local got
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')
    if [[ $got == "$want" ]]; then
        printf 'ok   %-36s -> %s\n' "'$line'" "$got"
    else
        printf 'FAIL %-36s -> got [%s], want [%s]\n' "'$line'" "$got" "$want"
        failures=$((failures + 1))
    fi
}

expect 'nudgectl ' 'audit backup buyer check flags optout order orders remind reply report simulate source status summary'
expect 'nudgectl source ' 'check'
expect 'nudgectl ' "$help_commands"  # and nothing in --help is missing
expect 'nudgectl s' 'simulate source status summary'
expect 'nudgectl r' 'remind reply report'
expect 'nudgectl --config ' 'nudge.yaml.example other.yml policies shop.yaml'
expect 'nudgectl --config shop.yaml o' 'optout order orders'
expect 'nudgectl check ' 'nudge.yaml.example other.yml policies shop.yaml'
expect 'nudgectl check policies/' 'policies/a.yaml'
expect 'nudgectl orders ' 'import'
expect 'nudgectl orders import ' 'audit.jsonl feed.json orders.jsonl policies'
expect 'nudgectl orders import orders.jsonl --' '--config --help --json --replay'
expect 'nudgectl simulate --' '--config --help --json --orders --store --until'
expect 'nudgectl report --' '--by --config --help --html --json --shop --since --store --until'
expect 'nudgectl report --by ' 'campaign channel country lang shop step template'
expect 'nudgectl report --by s' 'shop step'
expect 'nudgectl report --since 2026-10-01 --by t' 'template'
expect 'nudgectl report --store nudge.db --' '--by --config --help --html --json --shop --since --store --until'
expect 'nudgectl simulate --orders ' 'audit.jsonl feed.json orders.jsonl policies'
expect 'nudgectl --config shop.yaml simulate --orders o' 'orders.jsonl'
expect 'nudgectl simulate --until ' ''
expect 'nudgectl optout ' 'add list remove'
expect 'nudgectl optout add b1 --' '--config --help --json --shop'
expect 'nudgectl remind 8001 --' '--channel --config --feed --help --json --shop --template --wait'
expect 'nudgectl remind --feed ' 'audit.jsonl audit.jsonl-20261125.gz audit.jsonl-20261126 audit.jsonl.1 feed.json notes.txt nudge.yaml.example orders.jsonl other.yml policies shop.yaml'
expect 'nudgectl remind 8001 --channel ' ''
expect 'nudgectl remind --shop s1 --template gentle 8001 --' '--channel --config --feed --help --json --shop --template --wait'
expect 'nudgectl reply --' '--at --buyer --config --help --json --message-id --shop --text'
expect 'nudgectl reply --text ' ''
expect 'nudgectl flags ' 'clear'
expect 'nudgectl flags --' '--all --config --help --json --shop'
expect 'nudgectl audit ' 'tail verify'
expect 'nudgectl audit verify ' 'audit.jsonl audit.jsonl-20261126 audit.jsonl.1 orders.jsonl policies'
expect 'nudgectl audit verify --' '--config --help --json --rotated'
expect 'nudgectl audit tail -' '--config --help --json -f -n'
expect 'nudgectl --j' '--json'

if ((failures)); then
    echo "$failures completion(s) wrong"
    exit 1
fi
echo "OK"
