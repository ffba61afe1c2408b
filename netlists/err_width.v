// Error fixture: a 3-bit concatenation assigned to a 4-bit output.
module err_width(A, B, O);
  input [1:0] A;
  input [1:0] B;
  output [3:0] O;
  assign O = {A[1] & B[1], A[0] & B[1], A[0] & B[0]};
endmodule
