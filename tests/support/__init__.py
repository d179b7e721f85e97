"""What the test modules share: helpers and data, no tests.

Fixtures live in tests/conftest.py; a test module imports from here (or from the project), never
from another test module (tests/test_layering.py checks it).
"""
