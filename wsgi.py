"""The WSGI entry point: `gunicorn -c gunicorn.conf.py wsgi:app`, `flask --app wsgi ...`."""

import gc

# Building the app makes some 160,000 objects and no garbage: the collector, which would walk
# them all again and again meanwhile, waits (a sixth of the import time). Should the build
# fail, the process ends anyway.
collecting = gc.isenabled()
gc.disable()

from qrplatform import create_app  # noqa: E402

app = create_app()

# The app lives as long as the process: its objects leave the collector's sight for good, so
# no later collection walks them again, the one at the process's exit included (a quarter of
# a second for every command, job worker and web master that ends).
gc.freeze()
if collecting:
    gc.enable()
