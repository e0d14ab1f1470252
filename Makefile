# lingodesk: the two commands of the README's quick start are `make run` and `make test`.
.PHONY: setup run train test lint bench

setup:
	scripts/setup

run: setup
	.venv/bin/lingodesk run

train: setup
	.venv/bin/lingodesk train

test: setup
	scripts/test

lint:
	.venv/bin/ruff check .
