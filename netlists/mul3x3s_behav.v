// Exact 3x3 signed multiplier, behavioural with $signed and a vector sum (written for axdnn's
// tests): O = A*B computed as the product of the upper bits plus the product with A[0].
module mul3x3s_behav(A, B, Z);
  input signed [2:0] A;
  input signed [2:0] B;
  output signed [5:0] Z;
  wire signed [5:0] hi;
  wire [5:0] lo;
  assign hi = $signed({A[2:1], 1'b0}) * $signed(B);
  assign lo = {{3{B[2]}}, B} & {6{A[0]}};
  assign Z = hi + lo;
endmodule
