import os
import sys

# The e2e tests import the demo driver that sits beside them.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
