"""Finding and loading dxtrace's C libraries (libdxtrec, libdxtanalysis) for
the ctypes bindings: one place for where they are looked for.

    lib = load_once("DXTREC_LIB", "dxtrec", signatures, Error, "set DXTREC_LIB")
    # signatures(): {function: (restype, [argtypes])}, declared when it loads

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


def set_signatures(lib, sigs):
    """Declare lib's functions: sigs maps a name to (restype, [argtypes])."""
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


_loaded = {}  # name -> the library loaded, once per process


def load_once(env_var, name, signatures, error, how):
    """lib<name> declared with signatures() (called when it loads), loaded at
    the first call and the same object after; error(message) when none loads
    (how: how to get one)."""
    lib = _loaded.get(name)
    if lib is None:
        lib, tried = load(env_var, name, lambda found: set_signatures(found, signatures()))
        if lib is None:
            raise error("lib%s not found; %s. Tried: %s" % (name, how, tried))
        _loaded[name] = lib
    return lib


def loaded(name):
    """lib<name> if load_once has loaded it, else None."""
    return _loaded.get(name)


class Handle:
    """A native handle's life, shared by the classes that own one (Recorder,
    live.Live): `closed`, `with` closes it, and so does garbage collection.
    A subclass sets self._handle, defines close() (idempotent), and names the
    error and message a call on a closed object raises (_closed_error)."""

    _handle = None
    _closed_error = (RuntimeError, "closed")

    def _live(self):
        """The handle; raises _closed_error once closed."""
        if self._handle is None:
            error, message = self._closed_error
            raise error(message)
        return self._handle

    @property
    def closed(self):
        return self._handle is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            try:
                self.close()
            except Exception:  # interpreter shutdown: the library may be gone
                pass
