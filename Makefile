# Every target creates its own virtual environment (.venv) and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

VALIDATOR := tools/gltf-validator/node_modules/gltf-validator/package.json

.PHONY: demo test test-fast bench addon install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# An older .venv has opencv-python-headless; it shares cv2/ with opencv-contrib-python
	@# (mediapipe's), so both go and the install below puts back exactly one.
	if $(PY) -m pip show -q opencv-python-headless 2>/dev/null; then \
	  $(PY) -m pip uninstall -y -q opencv-python-headless opencv-contrib-python; fi
	$(PY) -m pip install -q --disable-pip-version-check -e '.[server,test,blender,bench]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## The Khronos glTF validator the tests run on every GLB (npm, pinned in tools/gltf-validator).
$(VALIDATOR): tools/gltf-validator/package.json tools/gltf-validator/package-lock.json
	npm ci --prefix tools/gltf-validator --no-audit --no-fund
	touch $(VALIDATOR)

## The main job on the shipped default model.
demo: $(STAMP)
	$(VENV)/bin/ide3d demo --out out/demo

## The whole test suite (under 15 minutes on 2 cores).
test: $(STAMP) $(VALIDATOR)
	OMP_NUM_THREADS=2 $(PY) -m pytest -q -p no:cacheprovider tests

## The Blender extension zip dist/ide3d-<version>.zip (validated with Blender's extension CLI).
addon: $(STAMP)
	$(PY) tools/build_addon.py --out dist

bench: $(STAMP)
	$(PY) bench/generator.py

clean:
	rm -rf $(VENV) out dist tools/gltf-validator/node_modules
