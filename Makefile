# Set-up is idempotent: the venv is (re)installed only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.raynas-installed
# torch and torchvision are installed first, from these pins (served locally on the
# reference machine); override on other platforms, e.g. `make TORCH="torch torchvision"`.
TORCH ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=
# pytest-xdist workers: the suite mostly waits on Ray and subprocesses, so two workers
# shorten it on two cores; TEST_JOBS=0 runs it in one process.
TEST_JOBS ?= 2

.PHONY: run test install clean

run: $(STAMP)
	$(VENV)/bin/raynas run

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_JOBS) $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(TORCH)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info
