/* picidae.store._points: the optional C accelerator behind MetricSeries' iteration.
 *
 * One function, zip_as(cls, *iterables): an iterator like zip(*iterables, strict=True) whose
 * rows are instances of cls, a tuple subclass such as the NamedTuple Point, allocated
 * directly. The pure-Python fallback in series.py builds the same rows with
 * starmap(tuple.__new__, zip(repeat(cls), zip(..., strict=True))); that path pays for an
 * argument tuple, argument parsing and a second tuple per row, which this one does not.
 *
 * Like tuple.__new__, it does not call cls.__new__: cls must be a tuple subclass that adds
 * no per-instance storage (a NamedTuple's __slots__ is empty) and has as many _fields as
 * there are iterables. Anything else is a TypeError when zip_as is called.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyTypeObject *cls;  /* the type of each row (a strong reference) */
    PyObject *iters;    /* a tuple of iterators, one per field */
    Py_ssize_t n;       /* the number of fields: len(iters) */
} ZipAs;

static PyTypeObject ZipAsType;

/* The "strict" part of zip(strict=True), after iterator `i` of `z` ended a row. Returns NULL
 * always: with StopIteration unset when every iterator ended together, or with ValueError
 * (or whatever an iterator raised) set. */
static PyObject *
zip_as_ended(ZipAs *z, Py_ssize_t i)
{
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_StopIteration)) {
            return NULL;  /* a real error from the iterator: pass it on */
        }
        PyErr_Clear();
    }
    if (i > 0) {  /* the first iterator gave an item for this row, iterator i did not */
        return PyErr_Format(PyExc_ValueError,
                            "zip_as() argument %zd is shorter than argument 1", i + 1);
    }
    /* The first iterator ended: every other one must end now too. */
    for (Py_ssize_t j = 1; j < z->n; j++) {
        PyObject *it = PyTuple_GET_ITEM(z->iters, j);
        PyObject *item = Py_TYPE(it)->tp_iternext(it);
        if (item != NULL) {
            Py_DECREF(item);
            return PyErr_Format(PyExc_ValueError,
                                "zip_as() argument %zd is longer than argument 1", j + 1);
        }
        if (PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_StopIteration)) {
                return NULL;
            }
            PyErr_Clear();
        }
    }
    return NULL;  /* all ended together: the iteration is over */
}

static PyObject *
zip_as_next(ZipAs *z)
{
    if (z->n == 0) {
        return NULL;  /* like zip(): no iterables, no rows */
    }
    /* tp_alloc zero-fills the row and tracks it in the GC; a NULL item is allowed until
     * the row is filled (the tuple's traverse and dealloc skip NULLs), as in zip(). */
    PyObject *row = z->cls->tp_alloc(z->cls, z->n);
    if (row == NULL) {
        return NULL;
    }
#if PY_VERSION_HEX >= 0x030E0000
    /* Python 3.14 caches a tuple's hash; tp_alloc leaves 0, "not computed yet" is -1. */
    ((PyTupleObject *)row)->ob_hash = -1;
#endif
    int cyclic = 0;  /* whether an item may be part of a reference cycle */
    for (Py_ssize_t i = 0; i < z->n; i++) {
        PyObject *it = PyTuple_GET_ITEM(z->iters, i);
        PyObject *item = Py_TYPE(it)->tp_iternext(it);
        if (item == NULL) {
            Py_DECREF(row);  /* frees the items set so far */
            return zip_as_ended(z, i);
        }
        PyTuple_SET_ITEM(row, i, item);  /* steals the reference to item */
        cyclic |= PyType_IS_GC(Py_TYPE(item));
    }
    /* What CPython's collector does for a plain tuple once it has seen it: a row whose items
     * cannot be part of a reference cycle (numbers, strings, None: types the collector does
     * not track) is no part of one either, so it need not be tracked. Untracked, 100,000
     * held Points cost each collection nothing, where the collector would otherwise walk
     * them all, again and again (it never untracks a tuple subclass itself). A row with,
     * say, a list in it stays tracked. */
    if (!cyclic) {
        PyObject_GC_UnTrack(row);
    }
    return row;
}

static int
zip_as_traverse(ZipAs *z, visitproc visit, void *arg)
{
    Py_VISIT(z->cls);
    Py_VISIT(z->iters);
    return 0;
}

static int
zip_as_clear(ZipAs *z)
{
    Py_CLEAR(z->cls);
    Py_CLEAR(z->iters);
    return 0;
}

static void
zip_as_dealloc(ZipAs *z)
{
    PyObject_GC_UnTrack(z);
    zip_as_clear(z);
    Py_TYPE(z)->tp_free((PyObject *)z);
}

static PyTypeObject ZipAsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "picidae.store._points.zip_as_iterator",
    .tp_basicsize = sizeof(ZipAs),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The iterator zip_as() returns.",
    .tp_traverse = (traverseproc)zip_as_traverse,
    .tp_clear = (inquiry)zip_as_clear,
    .tp_dealloc = (destructor)zip_as_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)zip_as_next,
};

/* TypeError unless each row of `n` items can be made as a `cls` by tp_alloc alone. */
static int
check_row_type(PyObject *cls, Py_ssize_t n)
{
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)
            || (PyTypeObject *)cls == &PyTuple_Type) {
        PyErr_Format(PyExc_TypeError,
                     "zip_as() argument 'cls' must be a tuple subclass, not %R", cls);
        return -1;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    if (type->tp_basicsize != PyTuple_Type.tp_basicsize
            || type->tp_itemsize != PyTuple_Type.tp_itemsize) {
        PyErr_Format(PyExc_TypeError,
                     "zip_as() needs a tuple subclass without instance attributes "
                     "(such as a NamedTuple), not %R", cls);
        return -1;
    }
    PyObject *fields = PyObject_GetAttrString(cls, "_fields");
    if (fields == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "zip_as() argument 'cls' has no _fields: %R", cls);
        return -1;
    }
    Py_ssize_t n_fields = PyObject_Length(fields);
    Py_DECREF(fields);
    if (n_fields < 0) {
        return -1;
    }
    if (n_fields != n) {
        PyErr_Format(PyExc_TypeError, "zip_as() got %zd iterables for %R's %zd fields",
                     n, cls, n_fields);
        return -1;
    }
    return 0;
}

static PyObject *
zip_as(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "zip_as() missing argument 'cls'");
        return NULL;
    }
    PyObject *cls = args[0];
    Py_ssize_t n = nargs - 1;
    if (check_row_type(cls, n) < 0) {
        return NULL;
    }
    PyObject *iters = PyTuple_New(n);
    if (iters == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PyObject_GetIter(args[i + 1]);
        if (it == NULL) {
            Py_DECREF(iters);
            return NULL;
        }
        PyTuple_SET_ITEM(iters, i, it);
    }
    ZipAs *z = PyObject_GC_New(ZipAs, &ZipAsType);
    if (z == NULL) {
        Py_DECREF(iters);
        return NULL;
    }
    Py_INCREF(cls);
    z->cls = (PyTypeObject *)cls;
    z->iters = iters;  /* the reference from PyTuple_New */
    z->n = n;
    PyObject_GC_Track(z);
    return (PyObject *)z;
}

static PyMethodDef methods[] = {
    {"zip_as", (PyCFunction)(void (*)(void))zip_as, METH_FASTCALL,
     "zip_as(cls, /, *iterables)\n--\n\n"
     "An iterator of cls rows, like zip(*iterables, strict=True) with each tuple made as\n"
     "tuple.__new__(cls, row). cls: a tuple subclass with as many _fields as iterables and\n"
     "no instance attributes (a NamedTuple). ValueError when the iterables differ in length."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "picidae.store._points",
    .m_doc = "Rows of a tuple subclass (MetricSeries' Points) built in C.",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__points(void)
{
    if (PyType_Ready(&ZipAsType) < 0) {
        return NULL;
    }
    return PyModule_Create(&module);
}
