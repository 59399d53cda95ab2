"""Validates JSON documents against a JSON Schema (draft 2020-12) with the `jsonschema` library.

Usage: validate_schema.py SCHEMA_FILE DOCUMENTS_FILE (a JSON array). Prints the number valid;
exits 1 naming the first invalid document.
"""
import json
import sys

from jsonschema import Draft202012Validator


def main(schema_path, documents_path):
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    with open(documents_path, encoding="utf-8") as f:
        documents = json.load(f)
    for i, doc in enumerate(documents):
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            print(f"document {i} is invalid: {errors[0].message} at {list(errors[0].path)}")
            sys.exit(1)
    print(len(documents))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
