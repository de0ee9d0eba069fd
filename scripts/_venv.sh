# Sourced by scripts/test and scripts/verify: make sure .venv exists and holds
# this checkout installed with the given extras ("" for the default install).
# Re-installs only when pyproject.toml changed or more extras are needed.
ensure_venv() {
    local extras="$1"
    local python="${MEMFIX_PYTHON:-python3}"
    if [ -d .venv ] && ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
        echo "memfix: .venv is broken (no working pip); recreating it" >&2
        rm -rf .venv
    fi
    if [ ! -x .venv/bin/python ]; then
        echo "memfix: creating .venv with $($python --version 2>&1)" >&2
        if ! "$python" -m venv .venv; then
            rm -rf .venv
            echo "memfix: '$python -m venv' failed; on Debian/Ubuntu install python3-venv" >&2
            return 1
        fi
    fi
    local stamp=".venv/.memfix-installed"
    local hash
    hash="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ -f "$stamp" ]; then
        local have_hash have_extras
        read -r have_hash have_extras <"$stamp" || true
        # dev includes every other extra, and every install the runtime ("").
        if [ "$have_hash" = "$hash" ] && { [ -z "$extras" ] || [ "${have_extras:-}" = "$extras" ] \
            || [ "${have_extras:-}" = dev ]; }; then
            return 0
        fi
    fi
    local target="."
    [ -n "$extras" ] && target=".[$extras]"
    echo "memfix: installing memfix${extras:+[$extras]} into .venv (first run only)" >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check -e "$target" >&2
    echo "$hash $extras" >"$stamp"
}
