// Package onnxgen writes small, real ONNX image classifiers for tests: the
// mean colour of the image (GlobalAveragePool) goes through one linear layer
// (Gemm) to class logits, optionally followed by Softmax.
//
// The protobuf is encoded by hand (the few ONNX message fields it needs are
// listed below), so the package depends on nothing outside the standard
// library. Field numbers follow onnx/onnx.proto.
package onnxgen

import (
	"encoding/binary"
	"math"
)

// Spec describes a colour classifier.
type Spec struct {
	// Prototypes holds one normalised RGB colour per class. For a
	// uniformly coloured image whose normalised mean colour is x, the logit
	// of class k is Scale * dot(x, Prototypes[k]).
	Prototypes [][3]float32
	// Scale multiplies every logit; larger means more confident.
	Scale float32
	// Softmax makes the model output probabilities instead of logits.
	Softmax bool
	// Batch is the fixed batch dimension, or 0 for a dynamic one ("N").
	Batch int64
	// Size is the fixed height and width, or 0 for dynamic ones ("H", "W").
	Size int64
	// InputName and OutputName default to "input" and "logits".
	InputName, OutputName string
}

// Logits returns the model's logits for a normalised mean colour x, as the
// ONNX graph computes them (in float64).
func (s Spec) Logits(x [3]float64) []float64 {
	out := make([]float64, len(s.Prototypes))
	for k, p := range s.Prototypes {
		out[k] = float64(s.Scale) * (x[0]*float64(p[0]) + x[1]*float64(p[1]) + x[2]*float64(p[2]))
	}
	return out
}

// ONNX enum values used below.
const (
	elemFloat    = 1 // TensorProto.DataType FLOAT
	attrInt      = 2 // AttributeProto.AttributeType INT
	attrFloat    = 1 // AttributeProto.AttributeType FLOAT
	irVersion    = 8
	opsetVersion = 17
)

// Model returns the encoded ModelProto.
func (s Spec) Model() []byte {
	in, out := s.InputName, s.OutputName
	if in == "" {
		in = "input"
	}
	if out == "" {
		out = "logits"
	}
	k := int64(len(s.Prototypes))
	// Gemm computes flat[N,3] x W[3,K]; W's column k is Scale*Prototypes[k].
	w := make([]float32, 3*k)
	for j, p := range s.Prototypes {
		for c := 0; c < 3; c++ {
			w[int64(c)*k+int64(j)] = s.Scale * p[c]
		}
	}
	bias := make([]float32, k)

	gemmOut := out
	if s.Softmax {
		gemmOut = "scores"
	}
	var g msg
	g.bytes(1, node("GlobalAveragePool", []string{in}, []string{"pooled"}, nil))
	g.bytes(1, node("Flatten", []string{"pooled"}, []string{"flat"}, []attr{{name: "axis", i: 1}}))
	g.bytes(1, node("Gemm", []string{"flat", "W", "B"}, []string{gemmOut},
		[]attr{{name: "alpha", f: 1, isFloat: true}, {name: "beta", f: 1, isFloat: true}}))
	if s.Softmax {
		g.bytes(1, node("Softmax", []string{"scores"}, []string{out}, []attr{{name: "axis", i: 1}}))
	}
	g.str(2, "colour_classifier")
	g.bytes(5, tensor("W", []int64{3, k}, w))
	g.bytes(5, tensor("B", []int64{k}, bias))
	g.bytes(11, valueInfo(in, []dim{s.dim(s.Batch, "N"), {value: 3}, s.dim(s.Size, "H"), s.dim(s.Size, "W")}))
	g.bytes(12, valueInfo(out, []dim{s.dim(s.Batch, "N"), {value: k}}))

	var opset msg
	opset.str(1, "")
	opset.varint(2, opsetVersion)

	var m msg
	m.varint(1, irVersion)
	m.str(2, "apsql-onnxgen")
	m.bytes(7, g)
	m.bytes(8, opset)
	return m
}

func (s Spec) dim(v int64, param string) dim {
	if v > 0 {
		return dim{value: v}
	}
	return dim{param: param}
}

type attr struct {
	name    string
	i       int64
	f       float32
	isFloat bool
}

type dim struct {
	value int64
	param string
}

// node encodes a NodeProto: input=1, output=2, name=3, op_type=4, attribute=5.
func node(op string, inputs, outputs []string, attrs []attr) msg {
	var n msg
	for _, s := range inputs {
		n.str(1, s)
	}
	for _, s := range outputs {
		n.str(2, s)
	}
	n.str(3, op+"_"+outputs[0])
	n.str(4, op)
	for _, a := range attrs {
		// AttributeProto: name=1, f=2, i=3, type=20.
		var am msg
		am.str(1, a.name)
		if a.isFloat {
			am.fixed32(2, math.Float32bits(a.f))
			am.varint(20, attrFloat)
		} else {
			am.varint(3, uint64(a.i))
			am.varint(20, attrInt)
		}
		n.bytes(5, am)
	}
	return n
}

// tensor encodes a float TensorProto: dims=1, data_type=2, name=8, raw_data=9.
func tensor(name string, dims []int64, data []float32) msg {
	var t msg
	for _, d := range dims {
		t.varint(1, uint64(d))
	}
	t.varint(2, elemFloat)
	t.str(8, name)
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	t.bytes(9, raw)
	return t
}

// valueInfo encodes a ValueInfoProto (name=1, type=2) of a float tensor:
// TypeProto.tensor_type=1 → Tensor{elem_type=1, shape=2} → Shape{dim=1} →
// Dimension{dim_value=1 | dim_param=2}.
func valueInfo(name string, dims []dim) msg {
	var shape msg
	for _, d := range dims {
		var dm msg
		if d.param != "" {
			dm.str(2, d.param)
		} else {
			dm.varint(1, uint64(d.value))
		}
		shape.bytes(1, dm)
	}
	var tt msg
	tt.varint(1, elemFloat)
	tt.bytes(2, shape)
	var typ msg
	typ.bytes(1, tt)
	var vi msg
	vi.str(1, name)
	vi.bytes(2, typ)
	return vi
}

// msg is a protobuf message being encoded.
type msg []byte

func (m *msg) tag(field, wire int) { m.uvarint(uint64(field)<<3 | uint64(wire)) }

func (m *msg) uvarint(v uint64) { *m = binary.AppendUvarint(*m, v) }

func (m *msg) varint(field int, v uint64) {
	m.tag(field, 0)
	m.uvarint(v)
}

func (m *msg) fixed32(field int, v uint32) {
	m.tag(field, 5)
	*m = binary.LittleEndian.AppendUint32(*m, v)
}

func (m *msg) bytes(field int, p []byte) {
	m.tag(field, 2)
	m.uvarint(uint64(len(p)))
	*m = append(*m, p...)
}

func (m *msg) str(field int, s string) { m.bytes(field, []byte(s)) }
