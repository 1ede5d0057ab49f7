/* cbuf._cbuf: a growable byte buffer and a string joiner.
 *
 * The three functions whose names start with an underscore each hold one
 * deliberate defect (memtest's example of what it catches); only the tests
 * in planted/ call them. Everything else is meant to be correct. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} Buffer;

static int grow(Buffer *self, Py_ssize_t need) {
    if (need <= self->cap) {
        return 0;
    }
    Py_ssize_t cap = self->cap ? self->cap : 16;
    while (cap < need) {
        cap *= 2;
    }
    char *data = PyMem_Realloc(self->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->data = data;
    self->cap = cap;
    return 0;
}

static int Buffer_init(Buffer *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"initial", NULL};
    Py_buffer initial = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|y*", kwlist, &initial)) {
        return -1;
    }
    self->len = 0;
    if (initial.buf != NULL) {
        if (grow(self, initial.len) < 0) {
            PyBuffer_Release(&initial);
            return -1;
        }
        memcpy(self->data, initial.buf, (size_t)initial.len);
        self->len = initial.len;
        PyBuffer_Release(&initial);
    }
    return 0;
}

static void Buffer_dealloc(Buffer *self) {
    PyMem_Free(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Buffer_append(Buffer *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (grow(self, self->len + view.len) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    memcpy(self->data + self->len, view.buf, (size_t)view.len);
    self->len += view.len;
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *Buffer_clear(Buffer *self, PyObject *unused) {
    self->len = 0;
    Py_RETURN_NONE;
}

static PyObject *Buffer_tobytes(Buffer *self, PyObject *unused) {
    return PyBytes_FromStringAndSize(self->data, self->len);
}

static Py_ssize_t Buffer_length(Buffer *self) { return self->len; }

/* DEFECT (planted): a history of every append, kept by the buffer and never
 * pruned: a long-lived buffer grows per call though its contents do not. */
static char *appended_log;
static size_t appended_log_len;

static PyObject *Buffer_append_and_keep(Buffer *self, PyObject *arg) {
    PyObject *r = Buffer_append(self, arg);
    if (r == NULL) {
        return NULL;
    }
    char *log = realloc(appended_log, appended_log_len + 32);
    if (log != NULL) {
        memset(log + appended_log_len, 0, 32);
        appended_log = log;
        appended_log_len += 32;
    }
    self->len = 0;
    return r;
}

static PyMethodDef Buffer_methods[] = {
    {"append", (PyCFunction)Buffer_append, METH_O, "Append the bytes of a buffer."},
    {"clear", (PyCFunction)Buffer_clear, METH_NOARGS, "Empty the buffer (its storage is kept)."},
    {"tobytes", (PyCFunction)Buffer_tobytes, METH_NOARGS, "The contents as bytes."},
    {"_append_and_keep", (PyCFunction)Buffer_append_and_keep, METH_O, "Planted defect: see the source."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Buffer_as_sequence = {
    .sq_length = (lenfunc)Buffer_length,
};

static PyTypeObject BufferType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "cbuf.Buffer",
    .tp_doc = "A growable byte buffer.",
    .tp_basicsize = sizeof(Buffer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Buffer_init,
    .tp_dealloc = (destructor)Buffer_dealloc,
    .tp_methods = Buffer_methods,
    .tp_as_sequence = &Buffer_as_sequence,
};

/* join(strings, sep): like sep.join(strings), for str items only. */
static PyObject *join(PyObject *module, PyObject *args) {
    PyObject *items;
    PyObject *sep;
    if (!PyArg_ParseTuple(args, "OU", &items, &sep)) {
        return NULL;
    }
    PyObject *seq = PySequence_Fast(items, "join() needs a sequence of str");
    if (seq == NULL) {
        return NULL;
    }
    PyObject *result = PyUnicode_Join(sep, seq);
    Py_DECREF(seq);
    return result;
}

/* DEFECT (planted): returns its argument with one reference too many. */
static PyObject *keep_ref(PyObject *module, PyObject *arg) {
    Py_INCREF(arg);
    Py_INCREF(arg); /* the reference kept per call */
    return arg;
}

/* DEFECT (planted): a block allocated per call and never freed. */
static void *volatile lost_sink;

static PyObject *lose_block(PyObject *module, PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n < 0) {
        return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "negative size");
    }
    lost_sink = malloc((size_t)n); /* the block lost per call */
    if (lost_sink != NULL) {
        memset(lost_sink, 1, (size_t)n);
    }
    return PyLong_FromSsize_t(n);
}

static PyMethodDef module_methods[] = {
    {"join", join, METH_VARARGS, "join(strings, sep) -> str"},
    {"_keep_ref", keep_ref, METH_O, "Planted defect: see the source."},
    {"_lose_block", lose_block, METH_O, "Planted defect: see the source."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "cbuf._cbuf", "A growable byte buffer, in C.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__cbuf(void) {
    if (PyType_Ready(&BufferType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&BufferType);
    if (PyModule_AddObject(m, "Buffer", (PyObject *)&BufferType) < 0) {
        Py_DECREF(&BufferType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
