import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# The e2e tests import the demo driver that sits beside them.
sys.path.insert(0, HERE)
# ...and, as the controller would, the collection's own code (make links it into .build/collections).
sys.path.insert(1, os.path.join(os.path.dirname(os.path.dirname(HERE)), ".build", "collections"))
