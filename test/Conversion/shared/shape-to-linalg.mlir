// RUN: mdl-opt %s --pass-pipeline="builtin.module(func.func(convert-mdl-to-linalg))" -mlir-print-local-scope | FileCheck %s

// Guards convert-mdl-to-linalg's shape family (ShapeToLinalg.cpp): views
// where a view does (flatten, reshape), a transpose for permute and slices
// of one tensor for cat; a reshape of a size known only at run time checks
// its element count there.

// The function the size checks call; -mdl-lower-state declares it.
func.func private @modelc_shape_check_failed(i64, i64, i64, i64, i64)

// flatten is a collapse_shape of the flattened dimensions; a flatten that
// changes nothing is no op at all.
// CHECK-LABEL: func.func @flatten_trailing
// CHECK:         %[[R:.*]] = tensor.collapse_shape %arg0 {{\[}}[0], [1, 2]] : tensor<?x4x4xf32> into tensor<?x16xf32>
// CHECK-NEXT:    return %[[R]]
func.func @flatten_trailing(%x: tensor<?x4x4xf32>) -> tensor<?x16xf32> {
  %0 = mdl.flatten %x start_dim 1 end_dim -1 : tensor<?x4x4xf32> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}
// CHECK-LABEL: func.func @flatten_nothing
// CHECK-NEXT:    return %arg0 : tensor<?x16xf32>
func.func @flatten_nothing(%x: tensor<?x16xf32>) -> tensor<?x16xf32> {
  %0 = mdl.flatten %x start_dim 1 end_dim -1 : tensor<?x16xf32> -> tensor<?x16xf32>
  return %0 : tensor<?x16xf32>
}

// A reshape of a static input is a tensor.reshape to its shape (the -1
// inferred at compile time); nothing to check.
// CHECK-LABEL: func.func @reshape_static
// CHECK-NOT:     scf.if
// CHECK:         %[[SHAPE:.*]] = arith.constant dense<[4, 16000]> : tensor<2xindex>
// CHECK-NEXT:    %[[R:.*]] = tensor.reshape %arg0(%[[SHAPE]]) : (tensor<1000x64xf32>, tensor<2xindex>) -> tensor<4x16000xf32>
// CHECK-NEXT:    return %[[R]]
func.func @reshape_static(%t: tensor<1000x64xf32>) -> tensor<4x16000xf32> {
  %0 = mdl.reshape %t shape [4, -1] : tensor<1000x64xf32> -> tensor<4x16000xf32>
  return %0 : tensor<4x16000xf32>
}

// With a -1 and a size known only at run time, the -1 is the element
// count divided by the other sizes; a count that is not a multiple of them
// is reported (kind 1, ShapeCheck::ReshapeMultiple, with the op's line and
// column), and the reshape goes on over the whole rows.
// CHECK-LABEL: func.func @reshape_inferred
// CHECK-DAG:     %[[LINE:.*]] = arith.constant [[#@LINE+18]] : i64
// CHECK-DAG:     %[[COL:.*]] = arith.constant 8 : i64
// CHECK-DAG:     %[[KIND:.*]] = arith.constant 1 : i64
// CHECK-DAG:     %[[EIGHT:.*]] = arith.constant 8 : index
// CHECK:         %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK-NEXT:    %[[N4:.*]] = arith.muli %[[N]], %c4
// CHECK-NEXT:    %[[COUNT:.*]] = arith.muli %[[N4]], %c4
// CHECK-NEXT:    %[[REM:.*]] = arith.remui %[[COUNT]], %[[EIGHT]]
// CHECK-NEXT:    %[[WRONG:.*]] = arith.cmpi ne, %[[REM]], %c0
// CHECK-NEXT:    %[[ROWS:.*]] = arith.divui %[[COUNT]], %[[EIGHT]]
// CHECK-NEXT:    %[[SHAPE:.*]] = tensor.from_elements %[[ROWS]], %[[EIGHT]] : tensor<2xindex>
// CHECK-NEXT:    scf.if %[[WRONG]] {
// CHECK-NEXT:      %[[C:.*]] = arith.index_cast %[[COUNT]] : index to i64
// CHECK-NEXT:      func.call @modelc_shape_check_failed(%[[LINE]], %[[COL]], %[[C]], %c8_i64, %[[KIND]])
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[R:.*]] = tensor.reshape %arg0(%[[SHAPE]]) : (tensor<?x4x4xf32>, tensor<2xindex>) -> tensor<?x8xf32>
// CHECK-NEXT:    return %[[R]]
func.func @reshape_inferred(%x: tensor<?x4x4xf32>) -> tensor<?x8xf32> {
  %0 = mdl.reshape %x shape [-1, 8] : tensor<?x4x4xf32> -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// A static shape from a size known only at run time: a wrong count is
// reported (kind 0, ShapeCheck::ReshapeCount) and the result is zeros,
// never a view past the input's end.
// CHECK-LABEL: func.func @reshape_fixed
// CHECK-DAG:     %[[KIND:.*]] = arith.constant 0 : i64
// CHECK-DAG:     %[[SHAPE:.*]] = arith.constant dense<[2, 8]> : tensor<2xindex>
// CHECK-DAG:     %[[SIXTEEN:.*]] = arith.constant 16 : index
// CHECK:         %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK-NEXT:    %[[COUNT:.*]] = arith.muli %[[N]], %c4
// CHECK-NEXT:    %[[WRONG:.*]] = arith.cmpi ne, %[[COUNT]], %[[SIXTEEN]]
// CHECK-NEXT:    %[[R:.*]] = scf.if %[[WRONG]] -> (tensor<2x8xf32>) {
// CHECK-NEXT:      arith.index_cast %[[COUNT]]
// CHECK-NEXT:      func.call @modelc_shape_check_failed({{.*}}, %[[KIND]])
// CHECK-NEXT:      %[[EMPTY:.*]] = tensor.empty() : tensor<2x8xf32>
// CHECK-NEXT:      %[[ZEROS:.*]] = linalg.fill ins(%cst : f32) outs(%[[EMPTY]] : tensor<2x8xf32>)
// CHECK-NEXT:      scf.yield %[[ZEROS]]
// CHECK-NEXT:    } else {
// CHECK-NEXT:      %[[VIEW:.*]] = tensor.reshape %arg0(%[[SHAPE]]) : (tensor<?x4xf32>, tensor<2xindex>) -> tensor<2x8xf32>
// CHECK-NEXT:      scf.yield %[[VIEW]]
// CHECK-NEXT:    }
// CHECK-NEXT:    return %[[R]]
func.func @reshape_fixed(%x: tensor<?x4xf32>) -> tensor<2x8xf32> {
  %0 = mdl.reshape %x shape [2, 8] : tensor<?x4xf32> -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// permute is a linalg.transpose; each dynamic result size comes from the
// input dimension the permutation puts there.
// CHECK-LABEL: func.func @permute
// CHECK:         %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK-NEXT:    %[[EMPTY:.*]] = tensor.empty(%[[N]]) : tensor<5x?x4xf32>
// CHECK-NEXT:    %[[R:.*]] = linalg.transpose ins(%arg0 : tensor<?x4x5xf32>) outs(%[[EMPTY]] : tensor<5x?x4xf32>) permutation = [2, 0, 1]
// CHECK-NEXT:    return %[[R]]
func.func @permute(%x: tensor<?x4x5xf32>) -> tensor<5x?x4xf32> {
  %0 = mdl.permute %x dims [2, 0, 1] : tensor<?x4x5xf32> -> tensor<5x?x4xf32>
  return %0 : tensor<5x?x4xf32>
}

// cat inserts each input into one tensor at the running offset along the
// dimension.
// CHECK-LABEL: func.func @cat_columns
// CHECK-DAG:     %[[C3:.*]] = arith.constant 3 : index
// CHECK:         %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK-NEXT:    %[[EMPTY:.*]] = tensor.empty(%[[N]]) : tensor<?x8xf32>
// CHECK:         %[[A:.*]] = tensor.insert_slice %arg0 into %[[EMPTY]][0, %c0] [%{{.*}}, 3] [1, 1] : tensor<?x3xf32> into tensor<?x8xf32>
// CHECK:         %[[B:.*]] = tensor.insert_slice %arg1 into %[[A]][0, %[[C3]]] [%{{.*}}, 5] [1, 1] : tensor<?x5xf32> into tensor<?x8xf32>
// CHECK-NEXT:    return %[[B]]
func.func @cat_columns(%a: tensor<?x3xf32>, %b: tensor<?x5xf32>) -> tensor<?x8xf32> {
  %0 = mdl.cat %a, %b dim 1 : (tensor<?x3xf32>, tensor<?x5xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// Along a dimension known only at run time, the result's size is the sum
// of the inputs', and the second input starts where the first ends.
// CHECK-LABEL: func.func @cat_rows
// CHECK:         %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK-NEXT:    %[[TOTAL:.*]] = arith.addi %[[N]], %c2
// CHECK-NEXT:    %[[EMPTY:.*]] = tensor.empty(%[[TOTAL]]) : tensor<?x3xf32>
// CHECK:         %[[A:.*]] = tensor.insert_slice %arg0 into %[[EMPTY]][%c0, 0]
// CHECK:         %[[END:.*]] = tensor.dim %arg0, %c0
// CHECK-NEXT:    %[[B:.*]] = tensor.insert_slice %arg1 into %[[A]][%[[END]], 0] [2, 3] [1, 1] : tensor<2x3xf32> into tensor<?x3xf32>
// CHECK-NEXT:    return %[[B]]
func.func @cat_rows(%a: tensor<?x3xf32>, %b: tensor<2x3xf32>) -> tensor<?x3xf32> {
  %0 = mdl.cat %a, %b dim 0 : (tensor<?x3xf32>, tensor<2x3xf32>) -> tensor<?x3xf32>
  return %0 : tensor<?x3xf32>
}
