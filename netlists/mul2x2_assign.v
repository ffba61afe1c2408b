// Exact 2x2 unsigned multiplier, flat assign dialect (written for axdnn's tests).
// MAE% = 0.00 %
// MAE = 0
// WCE = 0
// EP% = 0.00 %
module mul2x2_assign(A, B, O);
  input [1:0] A;
  input [1:0] B;
  output [3:0] O;
  wire sig_0, sig_1, sig_2, sig_3, sig_4;
  assign sig_0 = A[0] & B[0];
  assign sig_1 = A[1] & B[0];
  assign sig_2 = A[0] & B[1];
  assign sig_3 = A[1] & B[1];
  assign sig_4 = sig_1 & sig_2;
  assign O[0] = sig_0;
  assign O[1] = sig_1 ^ sig_2;
  assign O[2] = sig_3 ^ sig_4;
  assign O[3] = ~(~sig_3 | ~sig_4); /* = sig_3 & sig_4 */
endmodule
