// RUN: mdl-opt %s --split-input-file --pass-pipeline="builtin.module(mdl-pack-weights, mdl-outline-long-bodies{max-ops=1})" -mlir-print-local-scope | FileCheck %s
// The same with printer options that would hide or add differences, which
// the comparison of parts must not see: elided constants, locations.
// RUN: mdl-opt %s --split-input-file --pass-pipeline="builtin.module(mdl-pack-weights, mdl-outline-long-bodies{max-ops=1})" -mlir-print-local-scope --mlir-elide-elementsattrs-if-larger=4 --mlir-print-debuginfo | sed -e 's/ loc([^()]*)//g' | FileCheck %s

// max-ops=1: parts of two loop nests (a part ends at 2 max-ops at the
// latest; between max-ops / 2 and 2 max-ops, where the ops' shapes say, which
// here would be the same place).
//
// A forward function with four loop nests, cut into parts of two: a part
// ends only where nothing after it needs a view of its buffers (the slice
// %v of %z keeps %z's producer and the slice's users together); the part
// that reads the parameter takes its buffer and the packed copy derived
// from it, and says which of the forward function's arguments they are; an
// empty tensor used after a part is made again by the caller, not returned.
#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (n, k)>
#y = affine_map<(m, n, k) -> (m, n)>
#id = affine_map<(m, n) -> (m, n)>
func.func @modelc_forward_eval(%w: memref<20x37xf32>, %x: tensor<?x37xf32>, %init: tensor<?x20xf32>)
    -> (tensor<?x20xf32>, tensor<?x20xf32>)
    attributes {mdl.parameter_args = array<i64: 0>} {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %wt = bufferization.to_tensor %w restrict : memref<20x37xf32> to tensor<20x37xf32>
  %y = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %wt : tensor<?x37xf32>, tensor<20x37xf32>) outs(%init : tensor<?x20xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<?x20xf32>
  %n = tensor.dim %x, %c0 : tensor<?x37xf32>
  %e = tensor.empty(%n) : tensor<?x20xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y : tensor<?x20xf32>) outs(%e : tensor<?x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<?x20xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%r, %y : tensor<?x20xf32>, tensor<?x20xf32>) outs(%e : tensor<?x20xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<?x20xf32>
  %v = tensor.extract_slice %z[0, 0] [%n, 10] [1, 1] : tensor<?x20xf32> to tensor<?x10xf32>
  %q = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%v : tensor<?x10xf32>) outs(%v : tensor<?x10xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<?x10xf32>
  %out = tensor.insert_slice %q into %z[0, 0] [%n, 10] [1, 1] : tensor<?x10xf32> into tensor<?x20xf32>
  return %out, %r : tensor<?x20xf32>, tensor<?x20xf32>
}

// CHECK-LABEL: func.func @modelc_forward_eval(
// CHECK-SAME:      %[[W:.*]]: memref<20x37xf32>, %[[X:.*]]: tensor<?x37xf32>, %[[INIT:.*]]: tensor<?x20xf32>, %[[P:.*]]: memref<2x37x16xf32>)
// CHECK:         %[[A:.*]]:3 = call @modelc_forward_eval_part0(%[[W]], %[[X]], %[[INIT]], %[[P]])
// CHECK-NEXT:    %[[B:.*]] = call @modelc_forward_eval_part1(%[[A]]#2, %[[A]]#0, %[[A]]#1)
// CHECK-NEXT:    return %[[B]], %[[A]]#2

// CHECK-LABEL: func.func private @modelc_forward_eval_part1(
// CHECK-SAME:      %{{.*}}: tensor<?x20xf32>, %{{.*}}: tensor<?x20xf32>, %[[N:.*]]: index) -> tensor<?x20xf32>
// CHECK-SAME:      mdl.outlined_derived = [], passthrough = ["noinline"]
// CHECK:         tensor.empty(%[[N]])
// CHECK:         tensor.extract_slice
// CHECK:         tensor.insert_slice

// CHECK-LABEL: func.func private @modelc_forward_eval_part0(
// CHECK-SAME:      %[[PW:.*]]: memref<20x37xf32>, %{{.*}}: tensor<?x37xf32>, %{{.*}}: tensor<?x20xf32>, %{{.*}}: memref<2x37x16xf32>) -> (tensor<?x20xf32>, index, tensor<?x20xf32>)
// CHECK-SAME:      mdl.outlined_derived = [{arg = 3 : i64, kind = "packed", state = 0 : i64}]
// CHECK:         bufferization.to_tensor %[[PW]] restrict
// CHECK:         %[[DIM:.*]] = tensor.dim
// CHECK:         return %{{.*}}, %[[DIM]], %{{.*}} : tensor<?x20xf32>, index, tensor<?x20xf32>

// Under the limit, or not a forward function: left as it is.
#id2 = affine_map<(m, n) -> (m, n)>
// CHECK-LABEL: func.func @short(
// CHECK-NOT:     _part
func.func @short(%x: tensor<?x20xf32>, %init: tensor<?x20xf32>) -> tensor<?x20xf32>
    attributes {mdl.parameter_args = array<i64>} {
  %r = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x20xf32>) outs(%init : tensor<?x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<?x20xf32>
  return %r : tensor<?x20xf32>
}

// CHECK-LABEL: func.func @not_forward(
// CHECK-NOT:     _part
func.func @not_forward(%x: tensor<?x20xf32>, %init: tensor<?x20xf32>) -> tensor<?x20xf32> {
  %r = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<?x20xf32>) outs(%init : tensor<?x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<?x20xf32>
  %s = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r : tensor<?x20xf32>) outs(%init : tensor<?x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<?x20xf32>
  %t = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<?x20xf32>) outs(%init : tensor<?x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<?x20xf32>
  return %t : tensor<?x20xf32>
}

// -----

// Twelve like layers: the parts come out the same and are one function,
// called six times.
// CHECK-LABEL: func.func @repeated(
// CHECK:         %[[P0:.*]] = call @repeated_part0(%arg0)
// CHECK-NEXT:    %[[P1:.*]] = call @repeated_part0(%[[P0]])
// CHECK-NEXT:    %[[P2:.*]] = call @repeated_part0(%[[P1]])
// CHECK-NEXT:    %[[P3:.*]] = call @repeated_part0(%[[P2]])
// CHECK-NEXT:    %[[P4:.*]] = call @repeated_part0(%[[P3]])
// CHECK-NEXT:    %[[P5:.*]] = call @repeated_part0(%[[P4]])
// CHECK-NEXT:    return %[[P5]]
// CHECK:       func.func private @repeated_part0(
// CHECK-COUNT-2: linalg.generic
// CHECK-NOT:   linalg.generic
// CHECK:         return
// CHECK-NOT:   @repeated_part{{[1-9]}}(
#id2 = affine_map<(m, n) -> (m, n)>
func.func @repeated(%x: tensor<8x20xf32>) -> tensor<8x20xf32>
    attributes {mdl.parameter_args = array<i64>} {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<8x20xf32>
  %r0 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<8x20xf32>) outs(%e0 : tensor<8x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x20xf32>
  %e1 = tensor.empty() : tensor<8x20xf32>
  %r1 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r0 : tensor<8x20xf32>) outs(%e1 : tensor<8x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x20xf32>
  %e2 = tensor.empty() : tensor<8x20xf32>
  %r2 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r1 : tensor<8x20xf32>) outs(%e2 : tensor<8x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x20xf32>
  %e3 = tensor.empty() : tensor<8x20xf32>
  %r3 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r2 : tensor<8x20xf32>) outs(%e3 : tensor<8x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x20xf32>
  %e4 = tensor.empty() : tensor<8x20xf32>
  %r4 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r3 : tensor<8x20xf32>) outs(%e4 : tensor<8x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x20xf32>
  %e5 = tensor.empty() : tensor<8x20xf32>
  %r5 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r4 : tensor<8x20xf32>) outs(%e5 : tensor<8x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x20xf32>
  %e6 = tensor.empty() : tensor<8x20xf32>
  %r6 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r5 : tensor<8x20xf32>) outs(%e6 : tensor<8x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x20xf32>
  %e7 = tensor.empty() : tensor<8x20xf32>
  %r7 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r6 : tensor<8x20xf32>) outs(%e7 : tensor<8x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x20xf32>
  %e8 = tensor.empty() : tensor<8x20xf32>
  %r8 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r7 : tensor<8x20xf32>) outs(%e8 : tensor<8x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x20xf32>
  %e9 = tensor.empty() : tensor<8x20xf32>
  %r9 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r8 : tensor<8x20xf32>) outs(%e9 : tensor<8x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x20xf32>
  %e10 = tensor.empty() : tensor<8x20xf32>
  %r10 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r9 : tensor<8x20xf32>) outs(%e10 : tensor<8x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x20xf32>
  %e11 = tensor.empty() : tensor<8x20xf32>
  %r11 = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r10 : tensor<8x20xf32>) outs(%e11 : tensor<8x20xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.maximumf %a, %zero : f32
    linalg.yield %m : f32
  } -> tensor<8x20xf32>
  return %r11 : tensor<8x20xf32>
}

// -----

// Four layers that differ only in their constants: parts of two that hold
// different data are different functions.
// CHECK-LABEL: func.func @f(
// CHECK:         call @f_part0(
// CHECK-NEXT:    call @f_part1(
// CHECK:       func.func private @f_part1(
// CHECK:       func.func private @f_part0(
#id1 = affine_map<(m) -> (m)>
func.func @f(%x: tensor<8xf32>) -> tensor<8xf32> attributes {mdl.parameter_args = array<i64>} {
  %c0 = arith.constant dense<[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<8xf32>
  %e0 = tensor.empty() : tensor<8xf32>
  %r0 = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%x, %c0 : tensor<8xf32>, tensor<8xf32>) outs(%e0 : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %c1 = arith.constant dense<[10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0]> : tensor<8xf32>
  %e1 = tensor.empty() : tensor<8xf32>
  %r1 = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%r0, %c1 : tensor<8xf32>, tensor<8xf32>) outs(%e1 : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %c2 = arith.constant dense<[20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 26.0, 27.0]> : tensor<8xf32>
  %e2 = tensor.empty() : tensor<8xf32>
  %r2 = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%r1, %c2 : tensor<8xf32>, tensor<8xf32>) outs(%e2 : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  %c3 = arith.constant dense<[30.0, 31.0, 32.0, 33.0, 34.0, 35.0, 36.0, 37.0]> : tensor<8xf32>
  %e3 = tensor.empty() : tensor<8xf32>
  %r3 = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]} ins(%r2, %c3 : tensor<8xf32>, tensor<8xf32>) outs(%e3 : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %r3 : tensor<8xf32>
}
