// Error fixture: '#' is not part of the supported Verilog subset.
module err_bad_token(A, B, O);
  input [1:0] A;
  input [1:0] B;
  output [1:0] O;
  assign O[0] = A[0] & B[0];
  assign O[1] = A[1] # B[1];
endmodule
