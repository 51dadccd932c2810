# Two commands: `make run` starts the app, `make test` runs the whole suite.
# Both create .venv and install the project (with its test extras) when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) main.py

# Two test workers, given a whole test file at a time: a module's fixtures (a trained
# model, the CLI's subprocesses) are made once, not once in each worker.
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/lint-imports --no-cache
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/ruff check .
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) bench/startup.py
	$(PY) bench/kernel_lab.py
	$(PY) bench/predict_latency.py
	$(PY) bench/activations.py
	$(PY) bench/surgery.py
	$(PY) bench/edit_latency.py
	$(PY) bench/live.py

screenshots: $(STAMP)
	for p in kernels stride draw activations testset; do \
		QT_QPA_PLATFORM=offscreen $(PY) main.py --screenshot resources/screenshots/$$p.png --panel $$p; done
	for n in 2 6 9 10 15 19 22 25 26; do \
		QT_QPA_PLATFORM=offscreen $(PY) main.py --screenshot resources/screenshots/slide$$n.png --slide $$n --presenter; done

clean:
	rm -rf $(VENV) .pytest_cache
