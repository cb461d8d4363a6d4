// Package vision classifies images with ONNX Runtime for LABEL: it loads a
// model and its preprocessing, decodes and resizes images in worker
// goroutines, batches them through the model and sorts files into label
// folders (LabelDir) or returns predictions for thumbnails (Classify).
//
// A model is any image classifier exported to ONNX with one float32 input
// [N,3,H,W] and one output [N,K] of logits or probabilities; its
// preprocessing is timm's evaluation transform, described by a model.json
// beside it (see Config). ONNX Runtime is a shared library loaded at run
// time (see InitRuntime); JPEGs are decoded with libjpeg-turbo when it is
// installed (loaded with dlopen, so building needs no -dev package) and with
// Go's image/jpeg otherwise.
//
// The package knows nothing of DuckDB or HTTP: callers fetch thumbnails and
// store rows.
package vision
