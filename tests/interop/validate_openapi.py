# Requires openapi-spec-validator==0.9.0 (the version this script was tested with):
#   pip install openapi-spec-validator==0.9.0
"""Validates an OpenAPI document (JSON or YAML) with the `openapi-spec-validator` library.

Usage: validate_openapi.py FILE. Prints "ok N paths" and exits 0 when the document is valid;
prints the error and exits 1 otherwise.
"""
import sys

from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename


def main(argv):
    if len(argv) != 2:
        print("usage: validate_openapi.py FILE", file=sys.stderr)
        return 2
    path = argv[1]
    try:
        spec, base_uri = read_from_filename(path)
        validate(spec, base_uri=base_uri)
    except Exception as e:  # unreadable, unparsable or invalid: each is a failure
        print(f"{path}: {type(e).__name__}: {e}")
        return 1
    print(f"ok {len(spec.get('paths') or {})} paths")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
