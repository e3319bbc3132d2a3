# Put this directory first on PYTHONPATH to hide numpy: `import numpy` fails
# as it does where numpy is not installed (the clients' no-numpy tests).
raise ImportError("numpy is hidden for this test run (tests/clients/no_numpy)")
