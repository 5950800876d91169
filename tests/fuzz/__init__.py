"""A fuzzer for the API, generated from botocore's input shapes; bench/fuzz.py runs it at length."""
