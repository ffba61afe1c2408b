// Error fixture: combinational loop through sig_1 and sig_2.
module err_loop(A, B, O);
  input [1:0] A;
  input [1:0] B;
  output [1:0] O;
  wire sig_0, sig_1, sig_2;
  assign sig_0 = A[0] & B[0];
  assign sig_1 = sig_0 | sig_2;
  assign sig_2 = sig_1 & A[1];
  assign O[0] = sig_0;
  assign O[1] = sig_2 ^ B[1];
endmodule
