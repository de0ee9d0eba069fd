# Sourced by scripts/test and scripts/verify: make sure .venv exists and holds
# this checkout installed with the given extras. Re-installs only when
# pyproject.toml (or the extras asked for) changed since the last install.
ensure_venv() {
    local extras="$1"
    local python="${MEMFIX_PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        echo "memfix: creating .venv with $($python --version 2>&1)" >&2
        "$python" -m venv .venv
    fi
    local stamp=".venv/.memfix-installed"
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1) $extras"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "memfix: installing memfix[$extras] into .venv" >&2
        .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >&2
        .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]" >&2
        echo "$want" >"$stamp"
    fi
}
