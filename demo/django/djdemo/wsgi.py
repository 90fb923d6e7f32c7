"""WSGI entry point. uWSGI imports this in the master (lazy-apps off), so everything built here
-- Django itself, the URLconf, the view module and its static LargeObject structure -- is in the
master's heap before the workers fork and is shared with them copy-on-write."""
import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djdemo.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

# Load the URLconf and the views now (Django would do it lazily on the first request, i.e. in
# every worker separately): importing views builds the static structure.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns
from . import views  # noqa: E402,F401

views.announce_master()

# Instagram's trick: move everything that exists now into CPython's permanent generation so the
# cyclic GC's full collections in the workers do not write the gc headers of the inherited
# objects. DJ_GC_FREEZE=0 leaves it out (then a full CPython collection privatises every
# container object the master built).
if os.environ.get("DJ_GC_FREEZE", "1") != "0":
    gc.collect()
    gc.freeze()
