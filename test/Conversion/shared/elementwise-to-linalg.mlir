// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(convert-mdl-to-linalg))" -mlir-print-local-scope | FileCheck %s

// Guards convert-mdl-to-linalg's elementwise family (ElementwiseToLinalg.cpp):
// each op is one all-parallel linalg.generic over the result, its operands
// broadcast as in PyTorch by their indexing maps, its body PyTorch's scalar
// formula with `fastmath<contract>` only (no reassociation: nothing reduces).

// The function the size checks call; -mdl-lower-state declares it.
func.func private @modelc_shape_check_failed(i64, i64, i64, i64, i64)

// Operands align on the right: [5] reads only the last loop; the result's
// size known only at run time comes from the operand that has it.
// CHECK-LABEL: func.func @add_broadcast
// CHECK-SAME:    (%[[A:.*]]: tensor<?x5xf32>, %[[B:.*]]: tensor<5xf32>)
// CHECK:         %[[N:.*]] = tensor.dim %[[A]], %c0
// CHECK-NOT:     scf.if
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%[[N]]) : tensor<?x5xf32>
// CHECK:         %[[R:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%[[A]], %[[B]] : tensor<?x5xf32>, tensor<5xf32>) outs(%[[EMPTY]] : tensor<?x5xf32>)
// CHECK-NEXT:    ^bb0(%[[X:.*]]: f32, %[[Y:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[S:.*]] = arith.addf %[[X]], %[[Y]] fastmath<contract> : f32
// CHECK-NEXT:      linalg.yield %[[S]] : f32
// CHECK:         return %[[R]]
func.func @add_broadcast(%a: tensor<?x5xf32>, %b: tensor<5xf32>) -> tensor<?x5xf32> {
  %0 = mdl.add %a, %b : (tensor<?x5xf32>, tensor<5xf32>) -> tensor<?x5xf32>
  return %0 : tensor<?x5xf32>
}

// A size-1 dimension broadcasts by the constant index 0; a 0-d operand
// (a Python scalar) has an empty map.
// CHECK-LABEL: func.func @size_one_and_scalar
// CHECK:         %[[MIN:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, 0)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%arg0, %arg1 : tensor<3x1xf32>, tensor<5xf32>) outs(%{{.*}} : tensor<3x5xf32>)
// CHECK:           arith.minimumf
// CHECK:         linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> ()>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME:      ins(%[[MIN]], %arg2 : tensor<3x5xf32>, tensor<f32>)
// CHECK:           arith.subf
func.func @size_one_and_scalar(%c: tensor<3x1xf32>, %b: tensor<5xf32>, %s: tensor<f32>) -> tensor<3x5xf32> {
  %0 = mdl.minimum %c, %b : (tensor<3x1xf32>, tensor<5xf32>) -> tensor<3x5xf32>
  %1 = mdl.sub %0, %s : (tensor<3x5xf32>, tensor<f32>) -> tensor<3x5xf32>
  return %1 : tensor<3x5xf32>
}

// Two sizes known only at run time that one loop takes are checked where
// they meet: the runtime hears the op's line and column, both sizes and
// kind 2 (ShapeCheck::SizesDiffer).
// CHECK-LABEL: func.func @sizes_meet
// CHECK-SAME:    (%[[A:.*]]: tensor<?x5xf32>, %[[B:.*]]: tensor<?x5xf32>)
// CHECK-DAG:     %[[LINE:.*]] = arith.constant [[#@LINE+14]] : i64
// CHECK-DAG:     %[[COL:.*]] = arith.constant 8 : i64
// CHECK-DAG:     %[[KIND:.*]] = arith.constant 2 : i64
// CHECK-DAG:     %[[LOOP:.*]] = tensor.dim %[[A]], %c0
// CHECK-DAG:     %[[MINE:.*]] = tensor.dim %[[B]], %c0
// CHECK:         %[[DIFFER:.*]] = arith.cmpi ne, %[[MINE]], %{{.*}} : index
// CHECK-NEXT:    scf.if %[[DIFFER]] {
// CHECK-NEXT:      %[[M:.*]] = arith.index_cast %[[MINE]] : index to i64
// CHECK-NEXT:      %[[L:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK-NEXT:      func.call @modelc_shape_check_failed(%[[LINE]], %[[COL]], %[[M]], %[[L]], %[[KIND]])
// CHECK-NEXT:    }
// CHECK:         linalg.generic
// CHECK:           arith.mulf
func.func @sizes_meet(%a: tensor<?x5xf32>, %b: tensor<?x5xf32>) -> tensor<?x5xf32> {
  %0 = mdl.mul %a, %b : (tensor<?x5xf32>, tensor<?x5xf32>) -> tensor<?x5xf32>
  return %0 : tensor<?x5xf32>
}

// Activations, as PyTorch computes them. relu is maximumf, which keeps a
// NaN (maxnumf would not).
// CHECK-LABEL: func.func @activations
// CHECK-DAG:     %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG:     %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-DAG:     %[[HALF:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-DAG:     %[[RSQRT2:.*]] = arith.constant 0.707106769 : f32
// CHECK-DAG:     %[[SLOPE:.*]] = arith.constant 0.00999999977 : f32
// CHECK-DAG:     %[[SIX:.*]] = arith.constant 6.000000e+00 : f32
// relu
// CHECK:         linalg.generic {{.*}}iterator_types = ["parallel"]
// CHECK-NEXT:    ^bb0(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[R:.*]] = arith.maximumf %[[X]], %[[ZERO]] fastmath<contract> : f32
// CHECK-NEXT:      linalg.yield %[[R]]
// sigmoid: 1 / (1 + exp(-x))
// CHECK:         linalg.generic
// CHECK-NEXT:    ^bb0(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[NEG:.*]] = arith.negf %[[X]]
// CHECK-NEXT:      %[[E:.*]] = math.exp %[[NEG]]
// CHECK-NEXT:      %[[D:.*]] = arith.addf %[[E]], %[[ONE]]
// CHECK-NEXT:      %[[R:.*]] = arith.divf %[[ONE]], %[[D]]
// CHECK-NEXT:      linalg.yield %[[R]]
// gelu (exact): 0.5 x (1 + erf(x / sqrt(2)))
// CHECK:         linalg.generic
// CHECK-NEXT:    ^bb0(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[S:.*]] = arith.mulf %[[X]], %[[RSQRT2]]
// CHECK-NEXT:      %[[ERF:.*]] = math.erf %[[S]]
// CHECK-NEXT:      %[[P:.*]] = arith.addf %[[ERF]], %[[ONE]]
// CHECK-NEXT:      %[[H:.*]] = arith.mulf %[[X]], %[[HALF]]
// CHECK-NEXT:      %[[R:.*]] = arith.mulf %[[H]], %[[P]]
// CHECK-NEXT:      linalg.yield %[[R]]
// gelu (tanh)
// CHECK:         linalg.generic
// CHECK-NOT:       math.erf
// CHECK:           math.tanh
// CHECK:           linalg.yield
// leaky_relu: x > 0 ? x : slope * x
// CHECK:         linalg.generic
// CHECK-NEXT:    ^bb0(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[POS:.*]] = arith.cmpf ogt, %[[X]], %[[ZERO]]
// CHECK-NEXT:      %[[NX:.*]] = arith.mulf %[[X]], %[[SLOPE]]
// CHECK-NEXT:      %[[R:.*]] = arith.select %[[POS]], %[[X]], %[[NX]]
// CHECK-NEXT:      linalg.yield %[[R]]
// clamp (relu6)
// CHECK:         linalg.generic
// CHECK-NEXT:    ^bb0(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT:      %[[LO:.*]] = arith.maximumf %[[X]], %[[ZERO]]
// CHECK-NEXT:      %[[HI:.*]] = arith.minimumf %[[LO]], %[[SIX]]
// CHECK-NEXT:      linalg.yield %[[HI]]
func.func @activations(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %0 = mdl.relu %x : tensor<4xf32>
  %1 = mdl.sigmoid %x : tensor<4xf32>
  %2 = mdl.gelu %x approximate "none" : tensor<4xf32>
  %3 = mdl.gelu %x approximate "tanh" : tensor<4xf32>
  %4 = mdl.leaky_relu %x negative_slope 0.01 : tensor<4xf32>
  %5 = mdl.clamp %x min 0.0 max 6.0 : tensor<4xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}

// Integers take integer arithmetic: relu is maxsi, division truncates
// (divsi); no fastmath flags.
// CHECK-LABEL: func.func @integers
// CHECK:         linalg.generic
// CHECK-NEXT:    ^bb0(%[[X:.*]]: i64, %{{.*}}: i64):
// CHECK-NEXT:      %[[R:.*]] = arith.maxsi %[[X]], %c0_i64 : i64
// CHECK-NEXT:      linalg.yield %[[R]]
// CHECK:         linalg.generic
// CHECK-NEXT:    ^bb0(%[[X:.*]]: i64, %[[Y:.*]]: i64, %{{.*}}: i64):
// CHECK-NEXT:      %[[R:.*]] = arith.divsi %[[X]], %[[Y]] : i64
// CHECK-NEXT:      linalg.yield %[[R]]
func.func @integers(%a: tensor<4xi64>, %b: tensor<4xi64>) -> (tensor<4xi64>, tensor<4xi64>) {
  %0 = mdl.relu %a : tensor<4xi64>
  %1 = mdl.div %a, %b : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  return %0, %1 : tensor<4xi64>, tensor<4xi64>
}

// Casts: integer to float is signed; to bool is "nonzero" (NaN is true,
// hence une); a narrower float truncates.
// CHECK-LABEL: func.func @casts
// CHECK:         linalg.generic {{.*}} ins(%arg0 : tensor<4xi64>) outs(%{{.*}} : tensor<4xf32>)
// CHECK:           arith.sitofp %{{.*}} : i64 to f32
// CHECK:         linalg.generic {{.*}} ins(%arg1 : tensor<4xf32>) outs(%{{.*}} : tensor<4xi1>)
// CHECK:           arith.cmpf une, %{{.*}}, %cst
// CHECK:         linalg.generic {{.*}} ins(%arg2 : tensor<4xf64>) outs(%{{.*}} : tensor<4xf32>)
// CHECK:           arith.truncf %{{.*}} : f64 to f32
func.func @casts(%i: tensor<4xi64>, %f: tensor<4xf32>, %d: tensor<4xf64>) -> (tensor<4xf32>, tensor<4xi1>, tensor<4xf32>) {
  %0 = mdl.cast %i : tensor<4xi64> -> tensor<4xf32>
  %1 = mdl.cast %f : tensor<4xf32> -> tensor<4xi1>
  %2 = mdl.cast %d : tensor<4xf64> -> tensor<4xf32>
  return %0, %1, %2 : tensor<4xf32>, tensor<4xi1>, tensor<4xf32>
}

// full_like is a fill of a tensor shaped like its input; nothing reads
// the input's values.
// CHECK-LABEL: func.func @full_like
// CHECK:         %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK:         %[[EMPTY:.*]] = tensor.empty(%[[N]]) : tensor<?x5xf32>
// CHECK:         %[[R:.*]] = linalg.fill ins(%cst : f32) outs(%[[EMPTY]] : tensor<?x5xf32>)
// CHECK-NOT:     linalg.generic
// CHECK:         return %[[R]]
func.func @full_like(%x: tensor<?x5xf32>) -> tensor<?x5xf32> {
  %0 = mdl.full_like %x value 1.0 : tensor<?x5xf32>
  return %0 : tensor<?x5xf32>
}

// Training-mode dropout keeps an element when its uniform draw is at least
// p and scales it by 1/(1-p). The draw mixes the element's index with the
// position of the instance's random stream, the function's argument that
// mdl.rng_arg names, which each dropout advances by one.
// CHECK-LABEL: func.func @dropout
// CHECK-SAME:    (%{{.*}}: tensor<4xf32>, %[[STREAM:.*]]: memref<1xi64>)
// CHECK-DAG:     %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG:     %[[SCALE:.*]] = arith.constant 4.000000e+00 : f32
// CHECK-DAG:     %[[P:.*]] = arith.constant 7.500000e-01 : f32
// CHECK:         %[[AT:.*]] = memref.load %[[STREAM]]
// CHECK:         %[[NEXT:.*]] = arith.addi %[[AT]]
// CHECK:         memref.store %[[NEXT]], %[[STREAM]]
// CHECK:         linalg.generic
// CHECK-NEXT:    ^bb0(%[[X:.*]]: f32, %{{.*}}: f32):
// CHECK:           %[[KEEP:.*]] = arith.cmpf oge, %{{.*}}, %[[P]]
// CHECK-NEXT:      %[[SCALED:.*]] = arith.mulf %[[X]], %[[SCALE]]
// CHECK-NEXT:      %[[R:.*]] = arith.select %[[KEEP]], %[[SCALED]], %[[ZERO]]
// CHECK-NEXT:      linalg.yield %[[R]]
func.func @dropout(%x: tensor<4xf32>, %stream: memref<1xi64>) -> tensor<4xf32>
    attributes {mdl.rng_arg = 1 : i64} {
  %0 = mdl.dropout %x p 0.75 : tensor<4xf32>
  return %0 : tensor<4xf32>
}
