"""Finding and loading dxtrace's C libraries (libdxtrec, libdxtanalysis) for
the ctypes bindings: one place for where they are looked for.

    lib = load("DXTREC_LIB", "dxtrec", declare)   # declare(lib) sets the signatures

Looked for in order: the path in the environment variable (only that, when
set), build/lib of this repository, the system's lib<name>.so (ldconfig), then
lib<name>.so.1 by the loader's own search.

Owner: the Python binding (python/dxtrace/).
"""
import ctypes
import ctypes.util
import os


def candidates(env_var, name):
    """The paths to try for lib<name>, in order."""
    env = os.environ.get(env_var)
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "..", "..", "build", "lib", "lib%s.so" % name)
    found = ctypes.util.find_library(name)
    if found:
        yield found
    yield "lib%s.so.1" % name


def load(env_var, name, declare):
    """(library, None) for the first candidate that loads and declares, or
    (None, what was tried) when none does."""
    tried = []
    for path in candidates(env_var, name):
        try:
            lib = ctypes.CDLL(path)
            declare(lib)
        except (OSError, AttributeError) as e:
            tried.append("%s (%s)" % (path, e))
            continue
        return lib, None
    return None, "; ".join(tried)
