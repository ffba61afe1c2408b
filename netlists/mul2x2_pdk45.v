// Exact 2x2 unsigned multiplier as PDK45 cells on an N bus (written for axdnn's tests).
module mul2x2_pdk45(A, B, O);
  input [1:0] A;
  input [1:0] B;
  output [3:0] O;
  wire [15:0] N;
  assign N[0] = A[0];
  assign N[1] = A[0];
  assign N[2] = A[1];
  assign N[3] = A[1];
  assign N[4] = B[0];
  assign N[5] = B[0];
  assign N[6] = B[1];
  assign N[7] = B[1];
  AND2X1 n8(.A(N[0]), .B(N[4]), .Y(N[8]));
  AND2X1 n9(.B(N[4]), .A(N[2]), .Y(N[9]));
  AND2X1 n10(.A(N[1]), .Y(N[10]), .B(N[6]));
  AND2X1 n11(.A(N[3]), .B(N[7]), .Y(N[11]));
  HAX1 n12(.A(N[9]), .B(N[10]), .YS(N[12]), .YC(N[13]));
  HAX1 n14(.A(N[11]), .B(N[13]), .YS(N[14]), .YC(N[15]));
  assign O[0] = N[8];
  assign O[1] = N[12];
  assign O[2] = N[14];
  assign O[3] = N[15];
endmodule
