// Error fixture: sig_1 is read but never driven.
module err_undriven(A, B, O);
  input [1:0] A;
  input [1:0] B;
  output [1:0] O;
  wire sig_0, sig_1;
  assign sig_0 = A[0] & B[0];
  assign O[0] = sig_0;
  assign O[1] = A[1] & sig_1;
endmodule
